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
        snapshot_dates.snapshot_date,
        snapshot_dates.data_as_of
    from persons
    cross join snapshot_dates
    where persons.account_id is not null

),

person_signals as (

    select
        person_id,
        signal_type,
        content_category,
        cast(occurred_at as date) as signal_date,
        -- the quality score without its recency factor (see fct_account_features_daily)
        source_fidelity * (1 - bot_likelihood) * content_weight * engagement_weight as signal_quality
    from signals
    where person_id is not null

),

-- every signal beside each snapshot day whose 30-day window holds it (and whether its 14-day one does)
signals_by_snapshot as (

    select
        person_signals.*,
        snapshot_dates.snapshot_date,
        person_signals.signal_date > snapshot_dates.snapshot_date - 14 as is_14d
    from person_signals
    inner join snapshot_dates
        on
            person_signals.signal_date between snapshot_dates.snapshot_date
            - 29 and snapshot_dates.snapshot_date

),

windowed as (

    select
        spine.person_id,
        spine.snapshot_date,
        count(case when recent.signal_type = 'page_view' and recent.is_14d then 1 end) as page_views_14d,
        count(case when recent.signal_type = 'form_fill' and recent.is_14d then 1 end) as form_fills_14d,
        count(case when recent.signal_type = 'email_open' and recent.is_14d then 1 end) as email_opens_14d,
        count(case when recent.signal_type = 'email_click' and recent.is_14d then 1 end) as email_clicks_14d,
        count(case when recent.content_category = 'pricing' and recent.is_14d then 1 end)
            as pricing_views_14d,
        count(case when recent.content_category = 'comparison' and recent.is_14d then 1 end)
            as comparison_views_14d,
        count(case when recent.content_category = 'product' and recent.is_14d then 1 end)
            as product_views_14d,
        count(case when recent.content_category = 'case_study' and recent.is_14d then 1 end)
            as case_study_views_14d,
        count(case when recent.content_category = 'docs' and recent.is_14d then 1 end) as docs_views_14d,
        count(case when recent.content_category = 'blog' and recent.is_14d then 1 end) as blog_views_14d,
        count(distinct case when recent.is_14d then recent.signal_date end) as active_days_14d,
        coalesce(sum(case when recent.is_14d then recent.signal_quality end), 0) as signal_quality_14d,
        count(case when recent.signal_type = 'page_view' then 1 end) as page_views_30d,
        count(case when recent.content_category in ('pricing', 'comparison') then 1 end)
            as buying_content_views_30d,
        count(case when recent.signal_type = 'form_fill' then 1 end) as form_fills_30d,
        count(case when recent.signal_type = 'email_open' then 1 end) as email_opens_30d,
        count(case when recent.signal_type = 'email_click' then 1 end) as email_clicks_30d
    from spine
    left join signals_by_snapshot as recent
        on spine.person_id = recent.person_id and spine.snapshot_date = recent.snapshot_date
    group by spine.person_id, spine.snapshot_date

),

buying_content_days as (

    select distinct
        person_id,
        signal_date
    from person_signals
    where content_category in ('pricing', 'comparison')

),

last_buying_content as (

    select
        spine.person_id,
        spine.snapshot_date,
        max(buying_content_days.signal_date) as last_buying_content_on
    from spine
    inner join buying_content_days
        on
            spine.person_id = buying_content_days.person_id
            and spine.snapshot_date >= buying_content_days.signal_date
    group by spine.person_id, spine.snapshot_date

),

opportunity_timing as (

    select
        spine.person_id,
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
    group by spine.person_id, spine.snapshot_date

),

final as (

    select
        spine.person_id || ':' || cast(spine.snapshot_date as varchar) as person_feature_day_id,
        spine.person_id,
        spine.account_id,
        spine.snapshot_date,
        spine.data_as_of,
        persons.seniority,
        persons.department,
        windowed.page_views_14d,
        windowed.form_fills_14d,
        windowed.email_opens_14d,
        windowed.email_clicks_14d,
        windowed.pricing_views_14d,
        windowed.comparison_views_14d,
        windowed.product_views_14d,
        windowed.case_study_views_14d,
        windowed.docs_views_14d,
        windowed.blog_views_14d,
        windowed.active_days_14d,
        windowed.signal_quality_14d,
        date_diff('day', last_buying_content.last_buying_content_on, spine.snapshot_date)
            as days_since_buying_content,
        windowed.page_views_30d,
        windowed.buying_content_views_30d,
        windowed.form_fills_30d,
        windowed.email_opens_30d,
        windowed.email_clicks_30d,
        coalesce(opportunity_timing.prior_opportunities, 0) as prior_opportunities,
        opportunity_timing.next_opportunity_created_on
    from spine
    inner join persons
        on spine.person_id = persons.person_id
    inner join windowed
        on spine.person_id = windowed.person_id and spine.snapshot_date = windowed.snapshot_date
    left join last_buying_content
        on
            spine.person_id = last_buying_content.person_id
            and spine.snapshot_date = last_buying_content.snapshot_date
    left join opportunity_timing
        on
            spine.person_id = opportunity_timing.person_id
            and spine.snapshot_date = opportunity_timing.snapshot_date

)

select * from final
