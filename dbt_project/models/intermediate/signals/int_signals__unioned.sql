with

deliveries as (

    select * from {{ ref('int_signals__deliveries') }}

),

bot_scores as (

    select * from {{ ref('int_signals__cookie_bot_scores') }}

),

identities as (

    select * from {{ ref('int_identity__person_identities') }}

),

email_rules as (

    select * from {{ ref('int_identity__email_rules') }}

),

accounts as (

    select * from {{ ref('int_crm__accounts_current') }}

),

cookie_identities as (

    select * from identities
    where identity_type = 'anonymous_id'

),

email_identities as (

    select * from identities
    where identity_type = 'email'

),

-- several CRM accounts may share a domain: the lowest account_id wins (as in int_identity__edges)
domain_accounts as (

    select
        domain,
        min(account_id) as account_id
    from accounts
    group by domain

),

resolved as (

    select
        deliveries.*,
        case
            when deliveries.signal_type = 'page_view' then cookie_identities.person_id
            else email_identities.person_id
        end as person_id,
        case
            when deliveries.signal_type = 'page_view' then cookie_identities.account_id
            when deliveries.signal_source = 'intent' then domain_accounts.account_id
            else email_identities.account_id
        end as account_id,
        -- web signals carry their cookie's bot likelihood; e-mail and intent signals are never bots
        case
            when deliveries.signal_source = 'web' then coalesce(bot_scores.bot_likelihood, 0.0)
            else 0.0
        end as bot_likelihood,
        coalesce(email_rules.is_suppressed, false)
        or (deliveries.signal_type = 'page_view' and coalesce(cookie_identities.is_suppressed, false))
            as is_suppressed
    from deliveries
    left join bot_scores
        on deliveries.anonymous_id = bot_scores.anonymous_id
    left join cookie_identities
        on deliveries.anonymous_id = cookie_identities.identity_value
    left join email_identities
        on deliveries.email = email_identities.identity_value
    left join email_rules
        on deliveries.email = email_rules.email
    left join domain_accounts
        on deliveries.intent_domain = domain_accounts.domain

),

final as (

    select
        signal_row_id,
        signal_id,
        source_event_id,
        signal_source,
        signal_type,
        content_category,
        intent_topic,
        occurred_at,
        anonymous_id,
        session_id,
        person_id,
        account_id,
        bot_likelihood,
        bot_likelihood >= {{ var('bot_likelihood_threshold') }} as is_bot,
        delivery_number > 1 as is_duplicate,
        is_suppressed,
        source_fidelity,
        content_weight,
        _batch_id,
        _loaded_at
    from resolved

)

select * from final
