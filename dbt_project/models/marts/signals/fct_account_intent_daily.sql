with

signals as (

    select * from {{ ref('fct_signals') }}

),

persons as (

    select * from {{ ref('dim_person') }}

),

daily as (

    select
        signals.account_id,
        cast(signals.occurred_at as date) as signal_date,
        count(*) as signals,
        count(distinct signals.person_id) as engaged_contacts,
        count(distinct persons.department) as engaged_departments,
        count(distinct persons.seniority) as engaged_seniorities,
        count(
            case when signals.content_category in ('pricing', 'comparison') then signals.signal_id end
        ) as pricing_comparison_signals,
        count(
            distinct case
                when signals.content_category in ('pricing', 'comparison') then signals.person_id
            end
        ) as pricing_comparison_contacts,
        sum(signals.quality_score) as quality_score_sum,
        count(distinct signals.intent_topic) as third_party_topics,
        -- content_weight of an intent signal is the provider score / 100
        cast(
            round(max(case when signals.signal_source = 'intent' then signals.content_weight end) * 100)
            as integer
        ) as third_party_score_max
    from signals
    left join persons
        on signals.person_id = persons.person_id
    where signals.account_id is not null
    group by signals.account_id, cast(signals.occurred_at as date)

),

final as (

    select
        account_id || ':' || cast(signal_date as varchar) as account_intent_day_id,
        account_id,
        signal_date,
        signals,
        engaged_contacts,
        pricing_comparison_signals,
        pricing_comparison_contacts,
        quality_score_sum,
        third_party_topics,
        third_party_score_max,
        engaged_departments,
        engaged_seniorities,
        -- buying-group breadth: every engaged department beyond the first adds a share of the score
        quality_score_sum
        * (1 + {{ var('buying_group_breadth_bonus') }} * greatest(engaged_departments - 1, 0))
            as intent_score
    from daily

)

select * from final
