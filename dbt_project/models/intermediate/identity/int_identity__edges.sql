with

form_fills as (

    select * from {{ ref('stg_web__form_fills') }}

),

email_events as (

    select * from {{ ref('stg_email__events') }}

),

contacts as (

    select * from {{ ref('int_crm__contacts_current') }}

),

accounts as (

    select * from {{ ref('int_crm__accounts_current') }}

),

free_mail_domains as (

    select * from {{ ref('free_mail_domains') }}

),

role_mailboxes as (

    select * from {{ ref('role_mailbox_local_parts') }}

),

-- a cookie gave an e-mail address on a form, or clicked an e-mail and landed with the cookie
cookie_email_observations as (

    select
        'form_fill' as edge_rule,
        'anonymous_id' as from_identity_type,
        anonymous_id as from_identity_value,
        'email' as to_identity_type,
        email as to_identity_value,
        occurred_at as observed_at
    from form_fills

    union all

    select
        'email_click' as edge_rule,
        'anonymous_id' as from_identity_type,
        anonymous_id as from_identity_value,
        'email' as to_identity_type,
        email as to_identity_value,
        occurred_at as observed_at
    from email_events
    where
        event_type = 'click'
        and anonymous_id is not null

),

-- the current CRM version links an e-mail to its contact, and the contact to an existing account
crm_observations as (

    select
        'crm_contact_email' as edge_rule,
        'email' as from_identity_type,
        email as from_identity_value,
        'crm_contact_id' as to_identity_type,
        contact_id as to_identity_value,
        updated_at as observed_at
    from contacts

    union all

    select
        'crm_contact_account' as edge_rule,
        'crm_contact_id' as from_identity_type,
        contacts.contact_id as from_identity_value,
        'crm_account_id' as to_identity_type,
        accounts.account_id as to_identity_value,
        contacts.updated_at as observed_at
    from contacts
    inner join accounts
        on contacts.account_id = accounts.account_id

),

-- e-mails seen outside the CRM, with their first sighting
email_sightings as (

    select
        email,
        occurred_at
    from form_fills

    union all

    select
        email,
        occurred_at
    from email_events

),

non_crm_emails as (

    select
        email_sightings.email,
        split_part(email_sightings.email, '@', 1) as local_part,
        split_part(email_sightings.email, '@', 2) as email_domain,
        min(email_sightings.occurred_at) as first_seen_at
    from email_sightings
    left join contacts
        on email_sightings.email = contacts.email
    where contacts.contact_id is null
    group by email_sightings.email

),

-- several CRM accounts may share a domain: the lowest account_id wins, deterministically
domain_accounts as (

    select
        domain,
        min(account_id) as account_id
    from accounts
    group by domain

),

domain_observations as (

    select
        'email_domain' as edge_rule,
        'email' as from_identity_type,
        non_crm_emails.email as from_identity_value,
        'crm_account_id' as to_identity_type,
        domain_accounts.account_id as to_identity_value,
        non_crm_emails.first_seen_at as observed_at
    from non_crm_emails
    inner join domain_accounts
        on non_crm_emails.email_domain = domain_accounts.domain
    left join free_mail_domains
        on non_crm_emails.email_domain = free_mail_domains.domain
    left join role_mailboxes
        on non_crm_emails.local_part = role_mailboxes.local_part
    where
        free_mail_domains.domain is null
        and role_mailboxes.local_part is null

),

observations as (

    select * from cookie_email_observations
    union all
    select * from crm_observations
    union all
    select * from domain_observations

),

final as (

    select
        md5(
            edge_rule || '|' || from_identity_type || ':' || from_identity_value
            || '|' || to_identity_type || ':' || to_identity_value
        ) as edge_id,
        edge_rule,
        from_identity_type,
        from_identity_value,
        to_identity_type,
        to_identity_value,
        min(observed_at) as observed_at
    from observations
    group by
        edge_rule,
        from_identity_type,
        from_identity_value,
        to_identity_type,
        to_identity_value

)

select * from final
