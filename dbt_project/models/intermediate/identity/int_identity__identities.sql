{{
    config(
        materialized='incremental',
        unique_key='identity_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}

with

-- rows loaded after this are new; a full build reads everything
watermark as (

    {{ incremental_watermark('last_loaded_at') }}

),

page_views as (

    select * from {{ ref('stg_web__page_views') }}
    where _loaded_at > (select watermark.loaded_after from watermark)

),

form_fills as (

    select * from {{ ref('stg_web__form_fills') }}
    where _loaded_at > (select watermark.loaded_after from watermark)

),

email_events as (

    select * from {{ ref('stg_email__events') }}
    where _loaded_at > (select watermark.loaded_after from watermark)

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}
    where _loaded_at > (select watermark.loaded_after from watermark)

),

-- every sighting of an identity in a new raw row (all rows on a full build)
sightings as (

    select
        'anonymous_id' as identity_type,
        anonymous_id as identity_value,
        occurred_at as seen_at,
        _loaded_at
    from page_views

    union all

    select
        'anonymous_id' as identity_type,
        anonymous_id as identity_value,
        occurred_at as seen_at,
        _loaded_at
    from form_fills

    union all

    select
        'email' as identity_type,
        email as identity_value,
        occurred_at as seen_at,
        _loaded_at
    from form_fills

    union all

    select
        'email' as identity_type,
        email as identity_value,
        occurred_at as seen_at,
        _loaded_at
    from email_events

    union all

    select
        'anonymous_id' as identity_type,
        anonymous_id as identity_value,
        occurred_at as seen_at,
        _loaded_at
    from email_events
    where anonymous_id is not null

    union all

    select
        'email' as identity_type,
        email as identity_value,
        updated_at as seen_at,
        _loaded_at
    from contacts

    union all

    select
        'crm_contact_id' as identity_type,
        contact_id as identity_value,
        updated_at as seen_at,
        _loaded_at
    from contacts

),

new_identities as (

    select
        identity_type || ':' || identity_value as identity_key,
        identity_type,
        identity_value,
        min(_loaded_at) as first_loaded_at,
        min(seen_at) as first_seen_at,
        max(_loaded_at) as last_loaded_at
    from sightings
    where identity_value is not null and identity_value != ''
    group by identity_type, identity_value

),

-- the stored rows of identities seen again (none on a full build)
stored as (

    {% if is_incremental() %}
        select * from {{ this }}
        where identity_key in (select new_identities.identity_key from new_identities)
    {% else %}
        select * from new_identities
        where false
    {% endif %}

),

-- an identity seen again keeps its first load and first sighting
merged as (

    select
        new_identities.identity_key,
        new_identities.identity_type,
        new_identities.identity_value,
        least(new_identities.first_loaded_at, stored.first_loaded_at) as first_loaded_at,
        least(new_identities.first_seen_at, stored.first_seen_at) as first_seen_at,
        greatest(new_identities.last_loaded_at, stored.last_loaded_at) as last_loaded_at
    from new_identities
    left join stored
        on new_identities.identity_key = stored.identity_key

),

final as (

    select
        identity_key,
        identity_type,
        identity_value,
        first_loaded_at,
        first_seen_at,
        last_loaded_at
    from merged

)

select * from final
