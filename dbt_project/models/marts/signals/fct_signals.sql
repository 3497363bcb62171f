with

signals as (

    select * from {{ ref('int_signals__unioned') }}

),

-- as of the latest signal of any kind (bots and duplicates included), so a rebuild gives the same scores
as_of as (

    select max(occurred_at) as as_of from signals

),

clean as (

    select * from signals
    where
        not is_bot
        and not is_duplicate
        and not is_suppressed

),

-- engagement depth of a page view: pages in its session, and earlier visits (sessions) of the visitor
sessions as (

    select
        coalesce(person_id, 'anonymous_id:' || anonymous_id) as visitor_id,
        session_id,
        count(*) as session_page_views,
        min(occurred_at) as session_started_at
    from clean
    where signal_type = 'page_view'
    group by coalesce(person_id, 'anonymous_id:' || anonymous_id), session_id

),

visits as (

    select
        visitor_id,
        session_id,
        session_page_views,
        row_number() over (
            partition by visitor_id
            order by session_started_at asc, session_id asc
        ) - 1 as prior_visits
    from sessions

),

weighted as (

    select
        clean.*,
        exp(
            -ln(2) * (date_diff('second', clean.occurred_at, as_of.as_of) / 86400.0)
            / {{ var('signal_half_life_days') }}
        ) as recency_weight,
        case
            when clean.signal_type = 'page_view'
                then
                    0.5
                    + least(0.25, 0.05 * (coalesce(visits.session_page_views, 1) - 1))
                    + least(0.25, 0.05 * coalesce(visits.prior_visits, 0))
            else 1.0
        end as engagement_weight
    from clean
    cross join as_of
    left join visits
        on
            clean.signal_type = 'page_view'
            and coalesce(clean.person_id, 'anonymous_id:' || clean.anonymous_id) = visits.visitor_id
            and clean.session_id = visits.session_id

),

final as (

    select
        signal_id,
        signal_source,
        signal_type,
        content_category,
        intent_topic,
        occurred_at,
        person_id,
        account_id,
        source_fidelity,
        bot_likelihood,
        content_weight,
        recency_weight,
        cast(engagement_weight as double) as engagement_weight,
        -- see the `signal_quality_score` docs block
        source_fidelity
        * (1 - bot_likelihood)
        * content_weight
        * recency_weight
        * engagement_weight as quality_score
    from weighted

)

select * from final
