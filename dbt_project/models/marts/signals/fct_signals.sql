with

signals as (

    select * from {{ ref('int_signals__unioned') }}

),

final as (

    select
        signal_id,
        signal_source,
        signal_type,
        content_category,
        intent_topic,
        occurred_at,
        person_id,
        account_id,
        source_fidelity,
        content_weight,
        recency_weight,
        -- see the `signal_quality_score` docs block; later issues add more factors
        source_fidelity * content_weight * recency_weight as quality_score
    from signals
    where
        not is_bot
        and not is_duplicate

)

select * from final
