{{
    config(
        materialized='incremental',
        unique_key='link_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}

with

-- rows loaded after this are new; a full build reads everything
watermark as (

    {{ incremental_watermark('last_loaded_at') }}

),

form_fills as (

    select * from {{ ref('stg_web__form_fills') }}
    where _loaded_at > (select watermark.loaded_after from watermark)

),

email_events as (

    select * from {{ ref('stg_email__events') }}
    where _loaded_at > (select watermark.loaded_after from watermark)

),

-- a cookie gave an e-mail address on a form, or clicked an e-mail and landed with the cookie
observations as (

    select
        'form_fill' as edge_rule,
        anonymous_id,
        email,
        form_fill_id as evidence_id,
        occurred_at,
        _loaded_at
    from form_fills
    where anonymous_id is not null

    union all

    select
        'email_click' as edge_rule,
        anonymous_id,
        email,
        email_event_id as evidence_id,
        occurred_at,
        _loaded_at
    from email_events
    where
        event_type = 'click'
        and anonymous_id is not null

),

new_links as (

    select
        md5(edge_rule || '|' || anonymous_id || '|' || email) as link_id,
        edge_rule,
        anonymous_id,
        email,
        min(occurred_at) as observed_at,
        arg_min(evidence_id, (occurred_at, evidence_id)) as evidence_id,
        min(_loaded_at) as first_loaded_at,
        max(_loaded_at) as last_loaded_at
    from observations
    group by edge_rule, anonymous_id, email

),

-- the stored rows of links seen again (none on a full build)
stored as (

    {% if is_incremental() %}
        select * from {{ this }}
        where link_id in (select new_links.link_id from new_links)
    {% else %}
        select * from new_links
        where false
    {% endif %}

),

-- a link seen again keeps its first observation (a late event may move it earlier)
merged as (

    select
        new_links.link_id,
        new_links.edge_rule,
        new_links.anonymous_id,
        new_links.email,
        least(new_links.observed_at, stored.observed_at) as observed_at,
        case
            when stored.observed_at is null or new_links.observed_at < stored.observed_at
                then new_links.evidence_id
            else stored.evidence_id
        end as evidence_id,
        least(new_links.first_loaded_at, stored.first_loaded_at) as first_loaded_at,
        greatest(new_links.last_loaded_at, stored.last_loaded_at) as last_loaded_at
    from new_links
    left join stored
        on new_links.link_id = stored.link_id

),

final as (

    select
        link_id,
        edge_rule,
        anonymous_id,
        email,
        observed_at,
        evidence_id,
        first_loaded_at,
        last_loaded_at
    from merged

)

select * from final
