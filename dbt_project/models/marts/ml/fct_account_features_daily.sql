-- point in time: the row of a snapshot day only sees signals on or before that day (see the
-- `point_in_time_features` docs block); signals are aggregated per day first, then each day's aggregate is
-- spread over the 14 snapshot days whose window holds it
with

signals as (

    select * from {{ ref('fct_signals') }}

),

persons as (

    select * from {{ ref('dim_person') }}

),

accounts as (

    select * from {{ ref('dim_account') }}

),

opportunities as (

    select * from {{ ref('int_crm__opportunities_current') }}

),

bounds as (

    select
        min(cast(occurred_at as date)) as first_date,
        max(cast(occurred_at as date)) as data_as_of
    from signals

),

snapshot_dates as (

    select
        cast(unnest(generate_series(first_date, data_as_of, interval 1 day)) as date) as snapshot_date,
        data_as_of
    from bounds

),

spine as (

    select
        accounts.account_id,
        snapshot_dates.snapshot_date,
        snapshot_dates.data_as_of
    from accounts
    cross join snapshot_dates

),

-- one row per account, day and contributor (a person, a third-party topic, or an anonymous visitor): the
-- additive counts are summed over the window, the contributors feed its distinct counts
daily as (

    select
        account_id,
        cast(occurred_at as date) as signal_date,
        person_id,
        intent_topic,
        count(*) as signals,
        {{ daily_signal_counts() }},
        count(case when signal_type = 'intent_topic' then 1 end) as third_party_signals,
        -- the quality score without its recency factor: recency in fct_signals is measured from the
        -- latest data, which a snapshot in the past must not know
        sum(source_fidelity * (1 - bot_likelihood) * content_weight * engagement_weight) as signal_quality,
        -- content_weight of an intent signal is the provider score / 100
        max(case when signal_type = 'intent_topic' then content_weight end) as third_party_weight_max
    from signals
    where account_id is not null
    group by account_id, cast(occurred_at as date), person_id, intent_topic

),

daily_contributors as (

    select
        daily.*,
        persons.department,
        coalesce(persons.seniority in ('director', 'vp', 'c_suite'), false) as is_senior,
        daily.pricing_views + daily.comparison_views > 0 as has_buying_content
    from daily
    left join persons
        on daily.person_id = persons.person_id

),

windowed as (

    select
        recent.account_id,
        snapshot_day.snapshot_date,
        cast(sum(recent.page_views) as bigint) as page_views_14d,
        cast(sum(recent.form_fills) as bigint) as form_fills_14d,
        cast(sum(recent.email_opens) as bigint) as email_opens_14d,
        cast(sum(recent.email_clicks) as bigint) as email_clicks_14d,
        cast(sum(recent.pricing_views) as bigint) as pricing_views_14d,
        cast(sum(recent.comparison_views) as bigint) as comparison_views_14d,
        cast(sum(recent.product_views) as bigint) as product_views_14d,
        cast(sum(recent.case_study_views) as bigint) as case_study_views_14d,
        cast(sum(recent.docs_views) as bigint) as docs_views_14d,
        cast(sum(recent.blog_views) as bigint) as blog_views_14d,
        count(distinct recent.person_id) as engaged_contacts_14d,
        count(distinct recent.department) as engaged_departments_14d,
        count(distinct case when recent.is_senior then recent.person_id end) as senior_contacts_14d,
        count(distinct case when recent.has_buying_content then recent.person_id end)
            as buying_content_contacts_14d,
        count(distinct recent.signal_date) as active_days_14d,
        cast(
            sum(case when recent.signal_date > snapshot_day.snapshot_date - 7 then recent.signals else 0 end)
            as bigint
        ) as signals_7d,
        cast(
            sum(case when recent.signal_date <= snapshot_day.snapshot_date - 7 then recent.signals else 0 end)
            as bigint
        ) as signals_prior_7d,
        sum(recent.signal_quality) as signal_quality_14d,
        cast(sum(recent.third_party_signals) as bigint) as third_party_signals_14d,
        count(distinct recent.intent_topic) as third_party_topics_14d,
        cast(round(max(recent.third_party_weight_max) * 100) as integer) as third_party_score_max_14d
    from daily_contributors as recent
    inner join snapshot_dates as snapshot_day
        on recent.signal_date between snapshot_day.snapshot_date - 13 and snapshot_day.snapshot_date
    group by recent.account_id, snapshot_day.snapshot_date

),

buying_content_days as (

    select distinct
        account_id,
        signal_date
    from daily_contributors
    where has_buying_content

),

-- the latest pricing or comparison day on or before each snapshot day, over all history
last_buying_content as (

    select
        spine.account_id,
        spine.snapshot_date,
        max(buying_content_days.signal_date) over (
            partition by spine.account_id
            order by spine.snapshot_date asc
            rows between unbounded preceding and current row
        ) as last_buying_content_on
    from spine
    left join buying_content_days
        on
            spine.account_id = buying_content_days.account_id
            and spine.snapshot_date = buying_content_days.signal_date

),

opportunity_timing as (

    select
        spine.account_id,
        spine.snapshot_date,
        count(case when cast(opportunities.created_at as date) <= spine.snapshot_date then 1 end)
            as prior_opportunities,
        min(
            case
                when cast(opportunities.created_at as date) > spine.snapshot_date
                    then cast(opportunities.created_at as date)
            end
        ) as next_opportunity_created_on
    from spine
    inner join opportunities
        on spine.account_id = opportunities.account_id
    group by spine.account_id, spine.snapshot_date

),

final as (

    select
        spine.account_id || ':' || cast(spine.snapshot_date as varchar) as account_feature_day_id,
        spine.account_id,
        spine.snapshot_date,
        spine.data_as_of,
        accounts.tier,
        accounts.industry,
        accounts.employee_count,
        accounts.country,
        coalesce(windowed.page_views_14d, 0) as page_views_14d,
        coalesce(windowed.form_fills_14d, 0) as form_fills_14d,
        coalesce(windowed.email_opens_14d, 0) as email_opens_14d,
        coalesce(windowed.email_clicks_14d, 0) as email_clicks_14d,
        coalesce(windowed.pricing_views_14d, 0) as pricing_views_14d,
        coalesce(windowed.comparison_views_14d, 0) as comparison_views_14d,
        coalesce(windowed.product_views_14d, 0) as product_views_14d,
        coalesce(windowed.case_study_views_14d, 0) as case_study_views_14d,
        coalesce(windowed.docs_views_14d, 0) as docs_views_14d,
        coalesce(windowed.blog_views_14d, 0) as blog_views_14d,
        coalesce(windowed.engaged_contacts_14d, 0) as engaged_contacts_14d,
        coalesce(windowed.engaged_departments_14d, 0) as engaged_departments_14d,
        coalesce(windowed.senior_contacts_14d, 0) as senior_contacts_14d,
        coalesce(windowed.buying_content_contacts_14d, 0) as buying_content_contacts_14d,
        coalesce(windowed.active_days_14d, 0) as active_days_14d,
        coalesce(windowed.signals_7d, 0) as signals_7d,
        coalesce(windowed.signals_prior_7d, 0) as signals_prior_7d,
        coalesce(windowed.signal_quality_14d, 0) as signal_quality_14d,
        coalesce(windowed.third_party_signals_14d, 0) as third_party_signals_14d,
        coalesce(windowed.third_party_topics_14d, 0) as third_party_topics_14d,
        coalesce(windowed.third_party_score_max_14d, 0) as third_party_score_max_14d,
        date_diff('day', last_buying_content.last_buying_content_on, spine.snapshot_date)
            as days_since_buying_content,
        coalesce(opportunity_timing.prior_opportunities, 0) as prior_opportunities,
        opportunity_timing.next_opportunity_created_on
    from spine
    inner join accounts
        on spine.account_id = accounts.account_id
    left join windowed
        on spine.account_id = windowed.account_id and spine.snapshot_date = windowed.snapshot_date
    left join last_buying_content
        on
            spine.account_id = last_buying_content.account_id
            and spine.snapshot_date = last_buying_content.snapshot_date
    left join opportunity_timing
        on
            spine.account_id = opportunity_timing.account_id
            and spine.snapshot_date = opportunity_timing.snapshot_date

)

select * from final
