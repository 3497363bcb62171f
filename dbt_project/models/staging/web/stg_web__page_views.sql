with

source as (

    select * from {{ source('web', 'web_events') }}

),

final as (

    select
        event_id as page_view_id,
        anonymous_id,
        session_id,
        url as page_url,
        content_category,
        user_agent,
        referrer,
        occurred_at,
        _batch_id,
        _source_file,
        _source_line,
        _loaded_at

    from source

)

select * from final
