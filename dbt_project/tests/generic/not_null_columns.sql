{#-
    Every listed column is non-null, in one query per model instead of one dbt node per column: each node costs
    dbt 30-70 ms of its own whatever the data (bench/results/latency.md), and a micro-batch ran 193 of them.
    A failing row names its first null column in `null_column`.
-#}
{% test not_null_columns(model, columns) %}

select
    case
        {%- for column in columns %}
            when {{ adapter.quote(column) }} is null then '{{ column }}'
        {%- endfor %}
    end as null_column,
    *
from {{ model }}
where
    {%- for column in columns %}
        {{ adapter.quote(column) }} is null {{- " or" if not loop.last }}
    {%- endfor %}

{% endtest %}
