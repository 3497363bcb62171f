with

signals as (

    select * from {{ ref('fct_signals') }}

),

daily as (

    select
        account_id,
        cast(occurred_at as date) as signal_date,
        count(*) as signals,
        count(distinct person_id) as engaged_contacts,
        count(
            case when content_category in ('pricing', 'comparison') then signal_id end
        ) as pricing_comparison_signals,
        count(
            distinct case when content_category in ('pricing', 'comparison') then person_id end
        ) as pricing_comparison_contacts,
        sum(quality_score) as quality_score_sum,
        count(distinct intent_topic) as third_party_topics,
        -- content_weight of an intent signal is the provider score / 100
        cast(
            round(max(case when signal_source = 'intent' then content_weight end) * 100) as integer
        ) as third_party_score_max
    from signals
    where account_id is not null
    group by account_id, cast(occurred_at as date)

),

final as (

    select
        account_id || ':' || cast(signal_date as varchar) as account_intent_day_id,
        *
    from daily

)

select * from final
