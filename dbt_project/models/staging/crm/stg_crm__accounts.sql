with

source as (

    select * from {{ source('crm', 'crm_accounts') }}

),

final as (

    select
        account_id,
        name as account_name,
        lower(trim(domain)) as domain,
        industry,
        employee_count,
        tier,
        country,
        updated_at,
        _batch_id,
        _source_file,
        _source_line,
        _loaded_at

    from source

)

select * from final
