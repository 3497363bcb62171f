with

source as (

    select * from {{ source('crm', 'crm_contacts') }}

),

final as (

    select
        contact_id,
        account_id,
        lower(trim(email)) as email,
        first_name,
        last_name,
        job_title,
        department,
        seniority,
        timezone,
        consent_status,
        updated_at,
        _batch_id,
        _source_file,
        _source_line,
        _loaded_at

    from source

)

select * from final
