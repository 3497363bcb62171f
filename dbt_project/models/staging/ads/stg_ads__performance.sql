with

source as (

    select * from {{ source('ads', 'ad_performance') }}

),

final as (

    select
        record_id as ad_performance_id,
        report_date,
        campaign_id,
        channel,
        spend,
        impressions,
        clicks,
        conversions,
        _batch_id,
        _source_file,
        _source_line,
        _loaded_at

    from source

)

select * from final
