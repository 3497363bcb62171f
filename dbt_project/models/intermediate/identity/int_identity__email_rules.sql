with

identities as (

    select * from {{ ref('int_identity__identities') }}

),

contacts as (

    select * from {{ ref('int_crm__contacts_current') }}

),

free_mail_domains as (

    select * from {{ ref('free_mail_domains') }}

),

role_mailboxes as (

    select * from {{ ref('role_mailbox_local_parts') }}

),

suppression_list as (

    select * from {{ source('governance', 'suppression_list') }}

),

known_emails as (

    select identity_value as email
    from identities
    where identity_type = 'email'

    union

    select email from contacts

),

classified as (

    select
        known_emails.email,
        split_part(known_emails.email, '@', 2) as email_domain,
        known_emails.email like '%_@_%' as is_well_formed,
        role_mailboxes.local_part is not null as is_role_mailbox,
        free_mail_domains.domain is not null as is_free_mail,
        suppression_list.email_sha256 is not null as is_suppressed
    from known_emails
    left join role_mailboxes
        on split_part(known_emails.email, '@', 1) = role_mailboxes.local_part
    left join free_mail_domains
        on split_part(known_emails.email, '@', 2) = free_mail_domains.domain
    left join suppression_list
        on sha256(known_emails.email) = suppression_list.email_sha256

),

final as (

    select
        email,
        -- a suppressed address never appears in clear downstream of this model
        case when is_suppressed then 'sha256:' || sha256(email) else email end as email_value,
        email_domain,
        is_well_formed,
        is_role_mailbox,
        is_free_mail,
        is_suppressed,
        -- why the e-mail may not merge identities (null: it may); suppression is the strongest rule
        case
            when is_suppressed then 'suppressed_email'
            when not is_well_formed then 'malformed_email'
            when is_role_mailbox then 'role_mailbox'
        end as merge_exclusion
    from classified

)

select * from final
