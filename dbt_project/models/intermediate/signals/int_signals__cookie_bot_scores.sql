{{ config(materialized='table') }}

with

page_views as (

    select * from {{ ref('int_signals__deliveries') }}
    where
        signal_type = 'page_view'
        and delivery_number = 1

),

user_agents as (

    select
        anonymous_id,
        bool_or(coalesce(regexp_matches(user_agent, '{{ var("bot_user_agent_pattern") }}', 'i'), false))
            as has_bot_user_agent
    from page_views
    group by anonymous_id

),

hourly as (

    select
        anonymous_id,
        date_trunc('hour', occurred_at) as clock_hour,
        count(*) as page_views
    from page_views
    group by anonymous_id, date_trunc('hour', occurred_at)

),

busiest_hours as (

    select
        anonymous_id,
        max(page_views) as max_page_views_per_hour
    from hourly
    group by anonymous_id

),

sessions as (

    select
        anonymous_id,
        session_id,
        count(*) as page_views
    from page_views
    group by anonymous_id, session_id

),

session_depth as (

    select
        anonymous_id,
        count(*) as sessions,
        count(case when page_views = 1 then session_id end) as single_page_sessions
    from sessions
    group by anonymous_id

),

factors as (

    select
        user_agents.anonymous_id,
        user_agents.has_bot_user_agent,
        busiest_hours.max_page_views_per_hour,
        session_depth.sessions,
        session_depth.single_page_sessions,
        case when user_agents.has_bot_user_agent then 1.0 else 0.0 end as user_agent_factor,
        case
            when busiest_hours.max_page_views_per_hour > {{ var('bot_max_page_views_per_hour') }} then 1.0
            when busiest_hours.max_page_views_per_hour <= {{ var('bot_soft_page_views_per_hour') }} then 0.0
            else
                0.8 * (busiest_hours.max_page_views_per_hour - {{ var('bot_soft_page_views_per_hour') }})
                / ({{ var('bot_max_page_views_per_hour') }} - {{ var('bot_soft_page_views_per_hour') }})
        end as volume_factor,
        case
            when
                session_depth.sessions >= {{ var('bot_min_shallow_sessions') }}
                and session_depth.single_page_sessions = session_depth.sessions
                then 0.5
            else 0.0
        end as shallow_session_factor
    from user_agents
    inner join busiest_hours
        on user_agents.anonymous_id = busiest_hours.anonymous_id
    inner join session_depth
        on user_agents.anonymous_id = session_depth.anonymous_id

),

final as (

    select
        anonymous_id,
        has_bot_user_agent,
        max_page_views_per_hour,
        sessions,
        single_page_sessions,
        cast(user_agent_factor as double) as user_agent_factor,
        cast(volume_factor as double) as volume_factor,
        cast(shallow_session_factor as double) as shallow_session_factor,
        -- independent pieces of evidence: 1 - P(no factor says bot)
        cast(1 - (1 - user_agent_factor) * (1 - volume_factor) * (1 - shallow_session_factor) as double)
            as bot_likelihood
    from factors

)

select * from final
