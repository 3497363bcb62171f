with

page_views as (

    select * from {{ ref('stg_web__page_views') }}

),

form_fills as (

    select * from {{ ref('stg_web__form_fills') }}

),

email_events as (

    select * from {{ ref('stg_email__events') }}

),

intent_topics as (

    select * from {{ ref('stg_intent__topics') }}

),

identities as (

    select * from {{ ref('int_identity__person_identities') }}

),

accounts as (

    select * from {{ ref('int_crm__accounts_current') }}

),

-- a cookie is a bot if it ever sent a bot user agent or made too many page views in one clock hour
bot_user_agent_cookies as (

    select anonymous_id
    from page_views
    where regexp_matches(user_agent, '{{ var("bot_user_agent_pattern") }}', 'i')

),

bot_volume_cookies as (

    select anonymous_id
    from page_views
    group by anonymous_id, date_trunc('hour', occurred_at)
    having count(distinct page_view_id) > {{ var('bot_max_page_views_per_hour') }}

),

bot_cookies as (

    select anonymous_id from bot_user_agent_cookies
    union
    select anonymous_id from bot_volume_cookies

),

cookie_identities as (

    select * from identities
    where identity_type = 'anonymous_id'

),

email_identities as (

    select * from identities
    where identity_type = 'email'

),

-- several CRM accounts may share a domain: the lowest account_id wins (as in int_identity__edges)
domain_accounts as (

    select
        domain,
        min(account_id) as account_id
    from accounts
    group by domain

),

page_view_signals as (

    select
        'web_events' as source_table,
        page_views.page_view_id as source_event_id,
        'web' as signal_source,
        'page_view' as signal_type,
        page_views.content_category,
        cast(null as varchar) as intent_topic,
        page_views.occurred_at,
        page_views.anonymous_id,
        cookie_identities.person_id,
        cookie_identities.account_id,
        bot_cookies.anonymous_id is not null as is_bot,
        1.0 as source_fidelity,
        case page_views.content_category
            when 'pricing' then 1.0
            when 'comparison' then 1.0
            when 'case_study' then 0.7
            when 'product' then 0.6
            when 'docs' then 0.5
            when 'homepage' then 0.3
            when 'blog' then 0.2
            when 'careers' then 0.0
        end as content_weight,
        page_views._loaded_at,
        page_views._source_file,
        page_views._source_line
    from page_views
    left join bot_cookies
        on page_views.anonymous_id = bot_cookies.anonymous_id
    left join cookie_identities
        on page_views.anonymous_id = cookie_identities.identity_value

),

form_fill_signals as (

    select
        'form_fills' as source_table,
        form_fills.form_fill_id as source_event_id,
        'web' as signal_source,
        'form_fill' as signal_type,
        cast(null as varchar) as content_category,
        cast(null as varchar) as intent_topic,
        form_fills.occurred_at,
        form_fills.anonymous_id,
        email_identities.person_id,
        email_identities.account_id,
        bot_cookies.anonymous_id is not null as is_bot,
        1.0 as source_fidelity,
        1.0 as content_weight,
        form_fills._loaded_at,
        form_fills._source_file,
        form_fills._source_line
    from form_fills
    left join bot_cookies
        on form_fills.anonymous_id = bot_cookies.anonymous_id
    left join email_identities
        on form_fills.email = email_identities.identity_value

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
        email_engagement.email_event_id as source_event_id,
        'email' as signal_source,
        'email_' || email_engagement.event_type as signal_type,
        case
            when email_engagement.event_type != 'click' then null
            when email_engagement.url_path like '%/pricing%' then 'pricing'
            when email_engagement.url_path like '%/compare%' then 'comparison'
        end as content_category,
        cast(null as varchar) as intent_topic,
        email_engagement.occurred_at,
        email_engagement.anonymous_id,
        email_identities.person_id,
        email_identities.account_id,
        false as is_bot,
        1.0 as source_fidelity,
        case email_engagement.event_type
            when 'click' then 0.6
            when 'open' then 0.2
        end as content_weight,
        email_engagement._loaded_at,
        email_engagement._source_file,
        email_engagement._source_line
    from email_engagement
    left join email_identities
        on email_engagement.email = email_identities.identity_value

),

intent_signals as (

    select
        'intent_topics' as source_table,
        intent_topics.intent_record_id as source_event_id,
        'intent' as signal_source,
        'intent_topic' as signal_type,
        cast(null as varchar) as content_category,
        intent_topics.topic as intent_topic,
        cast(intent_topics.observed_on as timestamp) as occurred_at,
        cast(null as varchar) as anonymous_id,
        cast(null as varchar) as person_id,
        domain_accounts.account_id,
        false as is_bot,
        0.5 as source_fidelity,
        intent_topics.score / 100.0 as content_weight,
        intent_topics._loaded_at,
        intent_topics._source_file,
        intent_topics._source_line
    from intent_topics
    left join domain_accounts
        on intent_topics.domain = domain_accounts.domain

),

unioned as (

    select * from page_view_signals
    union all
    select * from form_fill_signals
    union all
    select * from email_signals
    union all
    select * from intent_signals

),

-- raw keeps re-delivered rows: the first delivery of a source event is the original
delivered as (

    select
        *,
        md5(source_table || ':' || source_event_id) as signal_id,
        row_number() over (
            partition by source_table, source_event_id
            order by _loaded_at asc, _source_file asc, _source_line asc
        ) as delivery_number,
        max(occurred_at) over () as as_of
    from unioned

),

final as (

    select
        md5(source_table || ':' || source_event_id || ':' || delivery_number) as signal_row_id,
        signal_id,
        source_event_id,
        signal_source,
        signal_type,
        content_category,
        intent_topic,
        occurred_at,
        anonymous_id,
        person_id,
        account_id,
        is_bot,
        delivery_number > 1 as is_duplicate,
        cast(source_fidelity as double) as source_fidelity,
        cast(content_weight as double) as content_weight,
        exp(
            -ln(2) * (date_diff('second', occurred_at, as_of) / 86400.0)
            / {{ var('signal_half_life_days') }}
        ) as recency_weight
    from delivered

)

select * from final
