with

versions as (

    select * from {{ ref('stg_crm__contacts') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by contact_id
            order by updated_at desc, _loaded_at desc, _source_file desc, _source_line desc
        ) as version_rank

    from versions

),

final as (

    select
        contact_id,
        account_id,
        email,
        first_name,
        last_name,
        job_title,
        department,
        seniority,
        timezone,
        consent_status,
        updated_at

    from ranked
    where version_rank = 1

)

select * from final
