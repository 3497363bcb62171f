with

source as (

    select * from {{ source('crm', 'crm_opportunities') }}

),

final as (

    select
        opportunity_id,
        account_id,
        stage,
        amount,
        created_at,
        updated_at,
        _batch_id,
        _source_file,
        _source_line,
        _loaded_at

    from source

)

select * from final
