with

person_identities as (

    select * from {{ ref('int_identity__person_identities') }}

),

final as (

    select
        -- e-mails are hashed: the change history must not keep a readable address of a forgotten person
        identity_type || ':' || case
            when identity_type = 'email' then sha256(identity_value)
            else identity_value
        end as identity_ref,
        identity_type,
        person_id
    from person_identities
    where person_id is not null

)

select * from final
