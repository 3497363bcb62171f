with

edges as (

    select * from {{ ref('int_identity__edges') }}

),

page_views as (

    select * from {{ ref('stg_web__page_views') }}

),

form_fills as (

    select * from {{ ref('stg_web__form_fills') }}

),

email_events as (

    select * from {{ ref('stg_email__events') }}

),

contacts as (

    select * from {{ ref('int_crm__contacts_current') }}

),

role_mailboxes as (

    select * from {{ ref('role_mailbox_local_parts') }}

),

observed_emails as (

    select email from form_fills
    union
    select email from email_events
    union
    select email from contacts

),

observed_cookies as (

    select anonymous_id from page_views
    union
    select anonymous_id from form_fills
    union
    select anonymous_id from email_events
    where anonymous_id is not null

),

-- an e-mail's account: through its (most recently updated) CRM contact, else through its domain
email_contacts as (

    select
        from_identity_value as email,
        to_identity_value as contact_id,
        row_number() over (
            partition by from_identity_value
            order by observed_at desc, to_identity_value asc
        ) as contact_rank
    from edges
    where edge_rule = 'crm_contact_email'

),

contact_accounts as (

    select
        from_identity_value as contact_id,
        to_identity_value as account_id
    from edges
    where edge_rule = 'crm_contact_account'

),

domain_accounts as (

    select
        from_identity_value as email,
        to_identity_value as account_id
    from edges
    where edge_rule = 'email_domain'

),

-- a person is anchored on a well-formed e-mail that is not a role mailbox
emails as (

    select
        observed_emails.email,
        case
            when
                observed_emails.email like '%_@_%'
                and role_mailboxes.local_part is null
                then 'per_' || left(md5(observed_emails.email), 16)
        end as person_id,
        coalesce(contact_accounts.account_id, domain_accounts.account_id) as account_id,
        case
            when contact_accounts.account_id is not null then 'crm_contact_account'
            when domain_accounts.account_id is not null then 'email_domain'
        end as account_rule
    from observed_emails
    left join role_mailboxes
        on split_part(observed_emails.email, '@', 1) = role_mailboxes.local_part
    left join email_contacts
        on
            observed_emails.email = email_contacts.email
            and email_contacts.contact_rank = 1
    left join contact_accounts
        on email_contacts.contact_id = contact_accounts.contact_id
    left join domain_accounts
        on observed_emails.email = domain_accounts.email

),

-- a cookie belongs to the person of the first e-mail it was linked to
cookie_links as (

    select
        edges.from_identity_value as anonymous_id,
        edges.to_identity_value as email,
        edges.edge_rule,
        row_number() over (
            partition by edges.from_identity_value
            order by edges.observed_at asc, edges.to_identity_value asc
        ) as link_rank
    from edges
    inner join emails
        on edges.to_identity_value = emails.email
    where
        edges.from_identity_type = 'anonymous_id'
        and emails.person_id is not null

),

resolved as (

    select
        'email' as identity_type,
        email as identity_value,
        person_id,
        account_id,
        case when person_id is not null then 'email' end as person_rule,
        account_rule
    from emails

    union all

    select
        'crm_contact_id' as identity_type,
        contacts.contact_id as identity_value,
        emails.person_id,
        contact_accounts.account_id,
        case when emails.person_id is not null then 'crm_contact_email' end as person_rule,
        case when contact_accounts.account_id is not null then 'crm_contact_account' end as account_rule
    from contacts
    inner join emails
        on contacts.email = emails.email
    left join contact_accounts
        on contacts.contact_id = contact_accounts.contact_id

    union all

    select
        'anonymous_id' as identity_type,
        observed_cookies.anonymous_id as identity_value,
        emails.person_id,
        emails.account_id,
        cookie_links.edge_rule as person_rule,
        emails.account_rule
    from observed_cookies
    left join cookie_links
        on
            observed_cookies.anonymous_id = cookie_links.anonymous_id
            and cookie_links.link_rank = 1
    left join emails
        on cookie_links.email = emails.email

),

final as (

    select
        identity_type || ':' || identity_value as identity_key,
        identity_type,
        identity_value,
        person_id,
        account_id,
        person_rule,
        account_rule
    from resolved

)

select * from final
