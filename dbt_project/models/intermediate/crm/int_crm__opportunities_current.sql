with

versions as (

    select * from {{ ref('stg_crm__opportunities') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by opportunity_id
            order by updated_at desc, _loaded_at desc, _source_file desc, _source_line desc
        ) as version_rank

    from versions

),

final as (

    select
        opportunity_id,
        account_id,
        stage,
        stage not in ('closed_won', 'closed_lost') as is_open,
        amount,
        created_at,
        updated_at

    from ranked
    where version_rank = 1

)

select * from final
