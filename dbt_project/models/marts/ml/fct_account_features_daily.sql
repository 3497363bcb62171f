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

-- the quality score without its recency factor: recency in fct_signals is relative to the latest
-- data, which a snapshot in the past must not see
account_signals as (

    select
        signals.account_id,
        signals.signal_id,
        signals.signal_type,
        signals.content_category,
        signals.intent_topic,
        signals.person_id,
        signals.content_weight,
        persons.department,
        persons.seniority,
        cast(signals.occurred_at as date) as signal_date,
        signals.source_fidelity
        * (1 - signals.bot_likelihood)
        * signals.content_weight
        * signals.engagement_weight as signal_quality
    from signals
    left join persons
        on signals.person_id = persons.person_id
    where signals.account_id is not null

),

windowed as (

    select
        spine.account_id,
        spine.snapshot_date,
        count(case when recent.signal_type = 'page_view' then 1 end) as page_views_14d,
        count(case when recent.signal_type = 'form_fill' then 1 end) as form_fills_14d,
        count(case when recent.signal_type = 'email_open' then 1 end) as email_opens_14d,
        count(case when recent.signal_type = 'email_click' then 1 end) as email_clicks_14d,
        count(case when recent.content_category = 'pricing' then 1 end) as pricing_views_14d,
        count(case when recent.content_category = 'comparison' then 1 end) as comparison_views_14d,
        count(case when recent.content_category = 'product' then 1 end) as product_views_14d,
        count(case when recent.content_category = 'case_study' then 1 end) as case_study_views_14d,
        count(case when recent.content_category = 'docs' then 1 end) as docs_views_14d,
        count(case when recent.content_category = 'blog' then 1 end) as blog_views_14d,
        count(distinct recent.person_id) as engaged_contacts_14d,
        count(distinct recent.department) as engaged_departments_14d,
        count(
            distinct case when recent.seniority in ('director', 'vp', 'c_suite') then recent.person_id end
        ) as senior_contacts_14d,
        count(
            distinct case when recent.content_category in ('pricing', 'comparison') then recent.person_id end
        ) as buying_content_contacts_14d,
        count(distinct recent.signal_date) as active_days_14d,
        count(case when recent.signal_date > spine.snapshot_date - 7 then 1 end) as signals_7d,
        count(case when recent.signal_date <= spine.snapshot_date - 7 then 1 end) as signals_prior_7d,
        coalesce(sum(recent.signal_quality), 0) as signal_quality_14d,
        count(case when recent.signal_type = 'intent_topic' then 1 end) as third_party_signals_14d,
        count(distinct recent.intent_topic) as third_party_topics_14d,
        -- content_weight of an intent signal is the provider score / 100
        coalesce(
            cast(
                round(max(case when recent.signal_type = 'intent_topic' then recent.content_weight end) * 100)
                as integer
            ),
            0
        ) as third_party_score_max_14d
    from spine
    left join account_signals as recent
        on
            spine.account_id = recent.account_id
            and recent.signal_date between spine.snapshot_date - 13 and spine.snapshot_date
    group by spine.account_id, spine.snapshot_date

),

buying_content_days as (

    select distinct
        account_id,
        signal_date
    from account_signals
    where content_category in ('pricing', 'comparison')

),

last_buying_content as (

    select
        spine.account_id,
        spine.snapshot_date,
        max(buying_content_days.signal_date) as last_buying_content_on
    from spine
    inner join buying_content_days
        on
            spine.account_id = buying_content_days.account_id
            and spine.snapshot_date >= buying_content_days.signal_date
    group by spine.account_id, spine.snapshot_date

),

opportunity_timing as (

    select
        spine.account_id,
        spine.snapshot_date,
        count(case when cast(opportunities.created_at as date) <= spine.snapshot_date then 1 end)
            as prior_opportunities,
        min(
            case
                when
                    cast(opportunities.created_at as date) > spine.snapshot_date
                    then cast(opportunities.created_at as date)
            end
        )
            as next_opportunity_created_on
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
        windowed.engaged_contacts_14d,
        windowed.engaged_departments_14d,
        windowed.senior_contacts_14d,
        windowed.buying_content_contacts_14d,
        windowed.active_days_14d,
        windowed.signals_7d,
        windowed.signals_prior_7d,
        windowed.signal_quality_14d,
        windowed.third_party_signals_14d,
        windowed.third_party_topics_14d,
        windowed.third_party_score_max_14d,
        date_diff('day', last_buying_content.last_buying_content_on, spine.snapshot_date)
            as days_since_buying_content,
        coalesce(opportunity_timing.prior_opportunities, 0) as prior_opportunities,
        opportunity_timing.next_opportunity_created_on
    from spine
    inner join accounts
        on spine.account_id = accounts.account_id
    inner join windowed
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
