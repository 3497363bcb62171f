with

accounts as (

    select * from {{ ref('int_crm__accounts_current') }}

),

contacts as (

    select * from {{ ref('int_crm__contacts_current') }}

),

opportunities as (

    select * from {{ ref('int_crm__opportunities_current') }}

),

all_signals as (

    select * from {{ ref('int_signals__unioned') }}

),

signals as (

    select * from {{ ref('fct_signals') }}

),

persons as (

    select * from {{ ref('dim_person') }}

),

-- the same as-of as the recency weight: the latest signal of any kind
as_of as (

    select max(occurred_at) as as_of from all_signals

),

contact_counts as (

    select
        account_id,
        count(*) as contacts
    from contacts
    group by account_id

),

recent_engagement as (

    select
        signals.account_id,
        count(distinct signals.person_id) as engaged_contacts_30d,
        count(distinct persons.department) as engaged_departments_30d
    from signals
    cross join as_of
    inner join persons
        on signals.person_id = persons.person_id
    where signals.occurred_at > as_of.as_of - {{ var('engagement_window_days') }} * interval '1 day'
    group by signals.account_id

),

open_opportunities as (

    select
        account_id,
        count(*) as open_opportunities
    from opportunities
    where is_open
    group by account_id

),

last_signals as (

    select
        account_id,
        max(occurred_at) as last_signal_at
    from signals
    group by account_id

),

final as (

    select
        accounts.account_id,
        accounts.account_name,
        accounts.domain,
        accounts.industry,
        accounts.employee_count,
        accounts.tier,
        accounts.country,
        coalesce(contact_counts.contacts, 0) as contacts,
        coalesce(recent_engagement.engaged_contacts_30d, 0) as engaged_contacts_30d,
        coalesce(recent_engagement.engaged_departments_30d, 0) as engaged_departments_30d,
        coalesce(open_opportunities.open_opportunities, 0) as open_opportunities,
        last_signals.last_signal_at
    from accounts
    left join contact_counts
        on accounts.account_id = contact_counts.account_id
    left join recent_engagement
        on accounts.account_id = recent_engagement.account_id
    left join open_opportunities
        on accounts.account_id = open_opportunities.account_id
    left join last_signals
        on accounts.account_id = last_signals.account_id

)

select * from final
