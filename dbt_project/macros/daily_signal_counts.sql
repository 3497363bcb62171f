{#- One day's engagement counts by signal type and content category: the same columns in the account and
    person feature marts, so both models read activity defined one way. -#}
{% macro daily_signal_counts() -%}
    {%- set signal_types = ["page_view", "form_fill", "email_open", "email_click"] -%}
    {%- set content_categories = ["pricing", "comparison", "product", "case_study", "docs", "blog"] -%}
    {%- for signal_type in signal_types %}
        count(case when signal_type = '{{ signal_type }}' then 1 end) as {{ signal_type }}s,
    {%- endfor %}
    {%- for category in content_categories %}
        count(case when content_category = '{{ category }}' then 1 end) as {{ category }}_views
        {{- "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}
