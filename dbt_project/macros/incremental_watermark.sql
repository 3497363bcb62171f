{#- The `_loaded_at` after which raw rows are new to an incremental model (a lookback absorbs clock skew
    between batches); a full build reads everything. -#}
{% macro incremental_watermark(loaded_at_column) -%}
    {%- if is_incremental() -%}
        select max({{ loaded_at_column }}) - to_hours({{ var('incremental_lookback_hours') }}) as loaded_after
        from {{ this }}
    {%- else -%}
        select cast('1900-01-01' as timestamp) as loaded_after
    {%- endif -%}
{%- endmacro %}
