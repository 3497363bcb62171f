{{
    config(
        materialized='incremental',
        unique_key='signal_row_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook=[
            "delete from {{ this }} as stale using (
                select _source_file, max(_loaded_at) as latest_load from {{ this }} group by _source_file
            ) as files
            where stale._source_file = files._source_file and stale._loaded_at < files.latest_load"
        ]
    )
}}

with

-- rows loaded after this are new; a full build reads everything
watermark as (

    {{ incremental_watermark('_loaded_at') }}

),

page_views as (

    select * from {{ ref('stg_web__page_views') }}
    where _loaded_at > (select watermark.loaded_after from watermark)

),

form_fills as (

    select * from {{ ref('stg_web__form_fills') }}
    where _loaded_at > (select watermark.loaded_after from watermark)

),

email_events as (

    select * from {{ ref('stg_email__events') }}
    where _loaded_at > (select watermark.loaded_after from watermark)

),

intent_topics as (

    select * from {{ ref('stg_intent__topics') }}
    where _loaded_at > (select watermark.loaded_after from watermark)

),

page_view_signals as (

    select
        'web_events' as source_table,
        page_view_id as source_event_id,
        'web' as signal_source,
        'page_view' as signal_type,
        content_category,
        cast(null as varchar) as intent_topic,
        occurred_at,
        anonymous_id,
        cast(null as varchar) as email,
        cast(null as varchar) as intent_domain,
        session_id,
        user_agent,
        1.0 as source_fidelity,
        case content_category
            when 'pricing' then 1.0
            when 'comparison' then 1.0
            when 'case_study' then 0.7
            when 'product' then 0.6
            when 'docs' then 0.5
            when 'homepage' then 0.3
            when 'blog' then 0.2
            when 'careers' then 0.0
        end as content_weight,
        _batch_id,
        _source_file,
        _source_line,
        _loaded_at
    from page_views

),

form_fill_signals as (

    select
        'form_fills' as source_table,
        form_fill_id as source_event_id,
        'web' as signal_source,
        'form_fill' as signal_type,
        cast(null as varchar) as content_category,
        cast(null as varchar) as intent_topic,
        occurred_at,
        anonymous_id,
        email,
        cast(null as varchar) as intent_domain,
        cast(null as varchar) as session_id,
        cast(null as varchar) as user_agent,
        1.0 as source_fidelity,
        1.0 as content_weight,
        _batch_id,
        _source_file,
        _source_line,
        _loaded_at
    from form_fills

),

-- sends, bounces and unsubscribes are not engagement; a click's link path drives its category
email_engagement as (

    select
        *,
        -- the link without scheme, host, query string and fragment
        regexp_extract(url, '^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*)?([^?#]*)', 1) as url_path
    from email_events
    where event_type in ('open', 'click')

),

email_signals as (

    select
        'email_events' as source_table,
        email_event_id as source_event_id,
        'email' as signal_source,
        'email_' || event_type as signal_type,
        case
            when event_type != 'click' then null
            when url_path like '%/pricing%' then 'pricing'
            when url_path like '%/compare%' then 'comparison'
        end as content_category,
        cast(null as varchar) as intent_topic,
        occurred_at,
        anonymous_id,
        email,
        cast(null as varchar) as intent_domain,
        cast(null as varchar) as session_id,
        cast(null as varchar) as user_agent,
        1.0 as source_fidelity,
        case event_type
            when 'click' then 0.6
            when 'open' then 0.2
        end as content_weight,
        _batch_id,
        _source_file,
        _source_line,
        _loaded_at
    from email_engagement

),

intent_signals as (

    select
        'intent_topics' as source_table,
        intent_record_id as source_event_id,
        'intent' as signal_source,
        'intent_topic' as signal_type,
        cast(null as varchar) as content_category,
        topic as intent_topic,
        cast(observed_on as timestamp) as occurred_at,
        cast(null as varchar) as anonymous_id,
        cast(null as varchar) as email,
        domain as intent_domain,
        cast(null as varchar) as session_id,
        cast(null as varchar) as user_agent,
        0.5 as source_fidelity,
        score / 100.0 as content_weight,
        _batch_id,
        _source_file,
        _source_line,
        _loaded_at
    from intent_topics

),

new_rows as (

    select
        md5(source_table || ':' || _source_file || ':' || cast(_source_line as varchar)) as signal_row_id,
        md5(source_table || ':' || source_event_id) as signal_id,
        *
    from (
        select * from page_view_signals
        union all
        select * from form_fill_signals
        union all
        select * from email_signals
        union all
        select * from intent_signals
    ) as unioned

),

-- earlier deliveries of the same events (none on a full build): a duplicate arriving in a later batch
-- is ranked against them, and they are re-ranked with it
earlier_deliveries as (

    {% if is_incremental() %}
        select
            signal_row_id,
            signal_id,
            source_table,
            source_event_id,
            signal_source,
            signal_type,
            content_category,
            intent_topic,
            occurred_at,
            anonymous_id,
            email,
            intent_domain,
            session_id,
            user_agent,
            source_fidelity,
            content_weight,
            _batch_id,
            _source_file,
            _source_line,
            _loaded_at
        from {{ this }}
        where
            signal_id in (select new_rows.signal_id from new_rows)
            and signal_row_id not in (select new_rows.signal_row_id from new_rows)
    {% else %}
        select * from new_rows
        where false
    {% endif %}

),

candidates as (

    select * from new_rows
    union all
    select * from earlier_deliveries

),

-- raw keeps re-delivered rows: the first delivery of a source event is the original
final as (

    select
        signal_row_id,
        signal_id,
        source_table,
        source_event_id,
        signal_source,
        signal_type,
        content_category,
        intent_topic,
        occurred_at,
        anonymous_id,
        email,
        intent_domain,
        session_id,
        user_agent,
        cast(source_fidelity as double) as source_fidelity,
        cast(content_weight as double) as content_weight,
        row_number() over (
            partition by signal_id
            order by _loaded_at asc, _source_file asc, _source_line asc
        ) as delivery_number,
        _batch_id,
        _source_file,
        _source_line,
        _loaded_at
    from candidates

)

select * from final
