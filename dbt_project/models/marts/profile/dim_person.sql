with

identities as (

    select * from {{ ref('int_identity__person_identities') }}

),

contacts as (

    select * from {{ ref('int_crm__contacts_current') }}

),

form_fills as (

    select * from {{ ref('stg_web__form_fills') }}

),

email_events as (

    select * from {{ ref('stg_email__events') }}

),

signals as (

    select * from {{ ref('fct_signals') }}

),

persons as (

    select
        person_id,
        identity_value as email,
        account_id
    from identities
    where
        identity_type = 'email'
        and is_primary_email

),

person_emails as (

    select
        person_id,
        identity_value as email
    from identities
    where
        identity_type = 'email'
        and person_id is not null

),

-- the person's CRM contact: the most recently updated one of the person (see the identity graph)
person_contacts as (

    select
        identities.person_id,
        contacts.contact_id,
        contacts.first_name,
        contacts.last_name,
        contacts.job_title,
        contacts.department,
        contacts.seniority,
        contacts.timezone,
        contacts.consent_status
    from identities
    inner join contacts
        on identities.identity_value = contacts.contact_id
    where
        identities.identity_type = 'crm_contact_id'
        and identities.is_primary_contact

),

-- names typed into the latest form, for people the CRM does not know
latest_form_fills as (

    select
        person_emails.person_id,
        form_fills.first_name,
        form_fills.last_name,
        form_fills.job_title,
        row_number() over (
            partition by person_emails.person_id
            order by form_fills.occurred_at desc, form_fills.form_fill_id desc
        ) as fill_rank
    from form_fills
    inner join person_emails
        on form_fills.email = person_emails.email

),

-- an unsubscribe, bounce or complaint on any of the person's e-mails counts; the distress counts are
-- distinct events (staging keeps re-delivered duplicates)
email_status as (

    select
        person_emails.person_id,
        count(case when email_events.event_type = 'unsubscribe' then email_events.email_event_id end) > 0
            as has_unsubscribed,
        count(case when email_events.event_type = 'bounce' then email_events.email_event_id end) > 0
            as has_bounced,
        count(distinct case when email_events.event_type = 'unsubscribe' then email_events.email_event_id end)
            as unsubscribe_events,
        count(distinct case when email_events.event_type = 'complaint' then email_events.email_event_id end)
            as complaint_events
    from email_events
    inner join person_emails
        on email_events.email = person_emails.email
    group by person_emails.person_id

),

cookie_counts as (

    select
        person_id,
        count(*) as anonymous_id_count
    from identities
    where
        identity_type = 'anonymous_id'
        and person_id is not null
    group by person_id

),

activity as (

    select
        person_id,
        count(case when signal_type = 'page_view' then signal_id end) as page_views,
        count(case when signal_type = 'form_fill' then signal_id end) as form_fills,
        count(case when signal_type = 'email_open' then signal_id end) as email_opens,
        count(case when signal_type = 'email_click' then signal_id end) as email_clicks,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_activity_at
    from signals
    where person_id is not null
    group by person_id

),

profiles as (

    select
        persons.person_id,
        persons.email,
        person_contacts.contact_id as crm_contact_id,
        persons.account_id,
        coalesce(person_contacts.first_name, latest_form_fills.first_name) as first_name,
        coalesce(person_contacts.last_name, latest_form_fills.last_name) as last_name,
        coalesce(person_contacts.job_title, latest_form_fills.job_title) as job_title,
        person_contacts.department,
        person_contacts.seniority,
        person_contacts.timezone,
        coalesce(person_contacts.consent_status, 'unknown') as consent_status,
        coalesce(email_status.has_unsubscribed, false) as has_unsubscribed,
        coalesce(email_status.has_bounced, false) as has_bounced,
        cast(coalesce(email_status.unsubscribe_events, 0) as bigint) as unsubscribe_events,
        cast(coalesce(email_status.complaint_events, 0) as bigint) as complaint_events,
        coalesce(cookie_counts.anonymous_id_count, 0) as anonymous_id_count,
        coalesce(activity.page_views, 0) as page_views,
        coalesce(activity.form_fills, 0) as form_fills,
        coalesce(activity.email_opens, 0) as email_opens,
        coalesce(activity.email_clicks, 0) as email_clicks,
        activity.first_seen_at,
        activity.last_activity_at
    from persons
    left join person_contacts
        on persons.person_id = person_contacts.person_id
    left join latest_form_fills
        on
            persons.person_id = latest_form_fills.person_id
            and latest_form_fills.fill_rank = 1
    left join email_status
        on persons.person_id = email_status.person_id
    left join cookie_counts
        on persons.person_id = cookie_counts.person_id
    left join activity
        on persons.person_id = activity.person_id

),

final as (

    select
        person_id,
        email,
        crm_contact_id,
        account_id,
        first_name,
        last_name,
        job_title,
        department,
        seniority,
        timezone,
        consent_status,
        has_unsubscribed,
        has_bounced,
        unsubscribe_events,
        complaint_events,
        consent_status = 'opted_in'
        and not has_unsubscribed
        and not has_bounced as is_contactable,
        anonymous_id_count,
        page_views,
        form_fills,
        email_opens,
        email_clicks,
        first_seen_at,
        last_activity_at
    from profiles

)

select * from final
