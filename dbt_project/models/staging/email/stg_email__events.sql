with

source as (

    select * from {{ source('email', 'email_events') }}

),

final as (

    select
        event_id as email_event_id,
        lower(trim(email)) as email,
        campaign_id,
        event_type,
        url,
        anonymous_id,
        occurred_at,
        _batch_id,
        _source_file,
        _source_line,
        _loaded_at

    from source

)

select * from final
