with

versions as (

    select * from {{ ref('stg_crm__accounts') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by account_id
            order by updated_at desc, _loaded_at desc, _source_file desc, _source_line desc
        ) as version_rank

    from versions

),

final as (

    select
        account_id,
        account_name,
        domain,
        industry,
        employee_count,
        tier,
        country,
        updated_at

    from ranked
    where version_rank = 1

)

select * from final
