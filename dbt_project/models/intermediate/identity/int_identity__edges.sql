{{ config(materialized='table') }}

with

cookie_email_links as (

    select * from {{ ref('int_identity__cookie_email_links') }}

),

identities as (

    select * from {{ ref('int_identity__identities') }}

),

contacts as (

    select * from {{ ref('int_crm__contacts_current') }}

),

accounts as (

    select * from {{ ref('int_crm__accounts_current') }}

),

email_exclusions as (

    select * from {{ ref('int_identity__email_rules') }}

),

-- shared computers and kiosks: a cookie linked to too many people's e-mails never merges anyone
cookie_email_counts as (

    select
        cookie_email_links.anonymous_id,
        count(distinct cookie_email_links.email) as person_emails
    from cookie_email_links
    inner join email_exclusions
        on cookie_email_links.email = email_exclusions.email
    where email_exclusions.merge_exclusion is null
    group by cookie_email_links.anonymous_id

),

cookie_edges as (

    select
        links.edge_rule,
        case links.edge_rule when 'form_fill' then 2 when 'email_click' then 3 end as edge_priority,
        case links.edge_rule
            when 'form_fill'
                then 'form fill ' || links.evidence_id || ' submitted the e-mail from the cookie'
            when 'email_click'
                then
                    'click '
                    || links.evidence_id
                    || ' on an e-mail sent to the address landed with the cookie'
        end as edge_reason,
        'anonymous_id' as from_identity_type,
        links.anonymous_id as from_identity_value,
        'email' as to_identity_type,
        email_exclusions.email_value as to_identity_value,
        links.observed_at,
        links.first_loaded_at,
        coalesce(
            email_exclusions.merge_exclusion,
            case
                when cookie_email_counts.person_emails > {{ var('identity_max_emails_per_cookie') }}
                    then 'shared_cookie'
            end
        ) as merge_exclusion
    from cookie_email_links as links
    inner join email_exclusions
        on links.email = email_exclusions.email
    left join cookie_email_counts
        on links.anonymous_id = cookie_email_counts.anonymous_id

),

contact_loads as (

    select
        identity_value as contact_id,
        first_loaded_at
    from identities
    where identity_type = 'crm_contact_id'

),

-- the current CRM version links an e-mail to its contact, and the contact to an existing account
crm_edges as (

    select
        'crm_contact_email' as edge_rule,
        1 as edge_priority,
        'the current version of CRM contact ' || contacts.contact_id || ' has the e-mail' as edge_reason,
        'email' as from_identity_type,
        email_exclusions.email_value as from_identity_value,
        'crm_contact_id' as to_identity_type,
        contacts.contact_id as to_identity_value,
        contacts.updated_at as observed_at,
        contact_loads.first_loaded_at,
        email_exclusions.merge_exclusion
    from contacts
    inner join email_exclusions
        on contacts.email = email_exclusions.email
    left join contact_loads
        on contacts.contact_id = contact_loads.contact_id

    union all

    select
        'crm_contact_account' as edge_rule,
        4 as edge_priority,
        'CRM contact '
        || contacts.contact_id
        || ' belongs to CRM account '
        || accounts.account_id as edge_reason,
        'crm_contact_id' as from_identity_type,
        contacts.contact_id as from_identity_value,
        'crm_account_id' as to_identity_type,
        accounts.account_id as to_identity_value,
        contacts.updated_at as observed_at,
        contact_loads.first_loaded_at,
        'account_attachment' as merge_exclusion
    from contacts
    inner join accounts
        on contacts.account_id = accounts.account_id
    left join contact_loads
        on contacts.contact_id = contact_loads.contact_id

),

-- several CRM accounts may share a domain: the lowest account_id wins
domain_accounts as (

    select
        domain,
        min(account_id) as account_id
    from accounts
    group by domain

),

-- an e-mail outside the CRM maps to the account owning its domain: never free mail, role or suppressed
domain_edges as (

    select
        'email_domain' as edge_rule,
        5 as edge_priority,
        'the e-mail domain ' || email_exclusions.email_domain || ' is the web domain of CRM account '
        || domain_accounts.account_id as edge_reason,
        'email' as from_identity_type,
        email_exclusions.email_value as from_identity_value,
        'crm_account_id' as to_identity_type,
        domain_accounts.account_id as to_identity_value,
        identities.first_seen_at as observed_at,
        identities.first_loaded_at,
        'account_attachment' as merge_exclusion
    from email_exclusions
    inner join identities
        on
            identities.identity_type = 'email'
            and email_exclusions.email = identities.identity_value
    inner join domain_accounts
        on email_exclusions.email_domain = domain_accounts.domain
    left join contacts
        on email_exclusions.email = contacts.email
    where
        contacts.contact_id is null
        and email_exclusions.merge_exclusion is null
        and not email_exclusions.is_free_mail

),

observations as (

    select * from cookie_edges
    union all
    select * from crm_edges
    union all
    select * from domain_edges

),

final as (

    select
        md5(
            edge_rule || '|' || from_identity_type || ':' || from_identity_value
            || '|' || to_identity_type || ':' || to_identity_value
        ) as edge_id,
        edge_rule,
        edge_priority,
        edge_reason,
        from_identity_type,
        from_identity_value,
        to_identity_type,
        to_identity_value,
        observed_at,
        first_loaded_at,
        merge_exclusion,
        merge_exclusion is null as is_merging_edge
    from observations

)

select * from final
