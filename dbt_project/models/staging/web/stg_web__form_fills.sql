with

source as (

    select * from {{ source('web', 'form_fills') }}

),

final as (

    select
        form_fill_id,
        anonymous_id,
        lower(trim(email)) as email,
        form_name,
        first_name,
        last_name,
        company,
        job_title,
        occurred_at,
        _batch_id,
        _source_file,
        _source_line,
        _loaded_at

    from source

)

select * from final
