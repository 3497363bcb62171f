with

source as (

    select * from {{ source('intent', 'intent_topics') }}

),

final as (

    select
        record_id as intent_record_id,
        lower(trim(domain)) as domain,
        topic,
        score,
        observed_on,
        provider,
        _batch_id,
        _source_file,
        _source_line,
        _loaded_at

    from source

)

select * from final
