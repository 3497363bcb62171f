-- point in time: the row of a snapshot day only sees signals on or before that day (see the
-- `point_in_time_features` docs block); signals are aggregated per person and day first, then each day's
-- aggregate is spread over the 30 snapshot days whose window holds it
with

signals as (

    select * from {{ ref('fct_signals') }}

),

persons as (

    select * from {{ ref('dim_person') }}

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
        persons.person_id,
        persons.account_id,
        persons.seniority,
        persons.department,
        snapshot_dates.snapshot_date,
        snapshot_dates.data_as_of
    from persons
    cross join snapshot_dates
    where persons.account_id is not null

),

daily as (

    select
        person_id,
        cast(occurred_at as date) as signal_date,
        {{ daily_signal_counts() }},
        -- the quality score without its recency factor (see fct_account_features_daily)
        sum(source_fidelity * (1 - bot_likelihood) * content_weight * engagement_weight) as signal_quality
    from signals
    where person_id is not null
    group by person_id, cast(occurred_at as date)

),

-- each person-day beside every snapshot day whose 30-day window holds it, and whether its 14-day one does
daily_by_snapshot as (

    select
        daily.*,
        snapshot_day.snapshot_date,
        daily.signal_date > snapshot_day.snapshot_date - 14 as is_14d
    from daily
    inner join snapshot_dates as snapshot_day
        on daily.signal_date between snapshot_day.snapshot_date - 29 and snapshot_day.snapshot_date

),

windowed as (

    select
        person_id,
        snapshot_date,
        cast(sum(case when is_14d then page_views else 0 end) as bigint) as page_views_14d,
        cast(sum(case when is_14d then form_fills else 0 end) as bigint) as form_fills_14d,
        cast(sum(case when is_14d then email_opens else 0 end) as bigint) as email_opens_14d,
        cast(sum(case when is_14d then email_clicks else 0 end) as bigint) as email_clicks_14d,
        cast(sum(case when is_14d then pricing_views else 0 end) as bigint) as pricing_views_14d,
        cast(sum(case when is_14d then comparison_views else 0 end) as bigint) as comparison_views_14d,
        cast(sum(case when is_14d then product_views else 0 end) as bigint) as product_views_14d,
        cast(sum(case when is_14d then case_study_views else 0 end) as bigint) as case_study_views_14d,
        cast(sum(case when is_14d then docs_views else 0 end) as bigint) as docs_views_14d,
        cast(sum(case when is_14d then blog_views else 0 end) as bigint) as blog_views_14d,
        -- one row per person-day, so counting rows counts active days
        count(case when is_14d then 1 end) as active_days_14d,
        coalesce(sum(case when is_14d then signal_quality end), 0) as signal_quality_14d,
        cast(sum(page_views) as bigint) as page_views_30d,
        cast(sum(pricing_views + comparison_views) as bigint) as buying_content_views_30d,
        cast(sum(form_fills) as bigint) as form_fills_30d,
        cast(sum(email_opens) as bigint) as email_opens_30d,
        cast(sum(email_clicks) as bigint) as email_clicks_30d
    from daily_by_snapshot
    group by person_id, snapshot_date

),

buying_content_days as (

    select
        person_id,
        signal_date
    from daily
    where pricing_views + comparison_views > 0

),

-- the latest pricing or comparison day on or before each snapshot day, over all history
last_buying_content as (

    select
        spine.person_id,
        spine.snapshot_date,
        max(buying_content_days.signal_date) over (
            partition by spine.person_id
            order by spine.snapshot_date asc
            rows between unbounded preceding and current row
        ) as last_buying_content_on
    from spine
    left join buying_content_days
        on
            spine.person_id = buying_content_days.person_id
            and spine.snapshot_date = buying_content_days.signal_date

),

-- opportunities are the account's: computed once per account and day, not once per person
opportunity_timing as (

    select
        snapshot_dates.snapshot_date,
        opportunities.account_id,
        count(case when cast(opportunities.created_at as date) <= snapshot_dates.snapshot_date then 1 end)
            as prior_opportunities,
        min(
            case
                when cast(opportunities.created_at as date) > snapshot_dates.snapshot_date
                    then cast(opportunities.created_at as date)
            end
        ) as next_opportunity_created_on
    from opportunities
    cross join snapshot_dates
    where opportunities.account_id is not null
    group by snapshot_dates.snapshot_date, opportunities.account_id

),

final as (

    select
        spine.person_id || ':' || cast(spine.snapshot_date as varchar) as person_feature_day_id,
        spine.person_id,
        spine.account_id,
        spine.snapshot_date,
        spine.data_as_of,
        spine.seniority,
        spine.department,
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
        coalesce(windowed.active_days_14d, 0) as active_days_14d,
        coalesce(windowed.signal_quality_14d, 0) as signal_quality_14d,
        date_diff('day', last_buying_content.last_buying_content_on, spine.snapshot_date)
            as days_since_buying_content,
        coalesce(windowed.page_views_30d, 0) as page_views_30d,
        coalesce(windowed.buying_content_views_30d, 0) as buying_content_views_30d,
        coalesce(windowed.form_fills_30d, 0) as form_fills_30d,
        coalesce(windowed.email_opens_30d, 0) as email_opens_30d,
        coalesce(windowed.email_clicks_30d, 0) as email_clicks_30d,
        coalesce(opportunity_timing.prior_opportunities, 0) as prior_opportunities,
        opportunity_timing.next_opportunity_created_on
    from spine
    left join windowed
        on spine.person_id = windowed.person_id and spine.snapshot_date = windowed.snapshot_date
    left join last_buying_content
        on
            spine.person_id = last_buying_content.person_id
            and spine.snapshot_date = last_buying_content.snapshot_date
    left join opportunity_timing
        on
            spine.account_id = opportunity_timing.account_id
            and spine.snapshot_date = opportunity_timing.snapshot_date

)

select * from final
