with

identities as (

    select * from {{ ref('int_identity__identities') }}

),

edges as (

    select * from {{ ref('int_identity__edges') }}

),

email_rules as (

    select * from {{ ref('int_identity__email_rules') }}

),

contacts as (

    select * from {{ ref('int_crm__contacts_current') }}

),

-- graph nodes: every identity except suppressed e-mails (they are forgotten, not resolved)
nodes as (

    select
        identities.identity_key,
        identities.identity_type,
        identities.identity_value,
        identities.first_loaded_at,
        identities.first_seen_at,
        -- only an e-mail that may merge makes a component a person
        coalesce(
            identities.identity_type = 'email' and email_rules.merge_exclusion is null, false
        ) as is_person_email,
        row_number() over (
            order by identities.first_loaded_at asc, identities.first_seen_at asc, identities.identity_key asc
        ) as node_rank
    from identities
    left join email_rules
        on
            identities.identity_type = 'email'
            and identities.identity_value = email_rules.email
    where not coalesce(email_rules.is_suppressed, false)

),

-- person-level merging edges, both directions (accounts are attached later, never merged through)
graph_links as (

    select
        from_identity_type || ':' || from_identity_value as from_key,
        to_identity_type || ':' || to_identity_value as to_key
    from edges
    where is_merging_edge

    union

    select
        to_identity_type || ':' || to_identity_value as from_key,
        from_identity_type || ':' || from_identity_value as to_key
    from edges
    where is_merging_edge

),

-- connected components: every node spreads its rank to all nodes it reaches; a component is labelled
-- by the smallest rank in it (the recursion sits in a subquery so dbt unit tests can inject fixtures)
components as (

    select
        reached.node_key,
        min(reached.label_rank) as component_rank
    from (
        with recursive reach (node_key, label_rank) as (
            select
                identity_key as node_key,
                node_rank as label_rank
            from nodes

            union

            select
                graph_links.to_key as node_key,
                reach.label_rank
            from reach
            inner join graph_links
                on reach.node_key = graph_links.from_key
        )

        select
            node_key,
            label_rank
        from reach
    ) as reached
    group by reached.node_key

),

component_nodes as (

    select
        nodes.*,
        components.component_rank
    from nodes
    inner join components
        on nodes.identity_key = components.node_key

),

-- the anchor: the person-level identity (e-mail or CRM contact, never a cookie) loaded first, then seen
-- first, then by key; a component without a mergeable e-mail is no person
anchors as (

    select
        component_rank,
        arg_min(identity_key, node_rank) as anchor_identity_key
    from component_nodes
    where identity_type != 'anonymous_id'
    group by component_rank
    having bool_or(is_person_email)

),

-- the person's CRM contact: the most recently updated one in the component
primary_contacts as (

    select
        component_nodes.component_rank,
        arg_max(contacts.contact_id, (contacts.updated_at, -component_nodes.node_rank)) as contact_id
    from component_nodes
    inner join contacts
        on
            component_nodes.identity_type = 'crm_contact_id'
            and component_nodes.identity_value = contacts.contact_id
    group by component_nodes.component_rank

),

-- the person's e-mail: the primary contact's e-mail, else the person e-mail loaded (then seen) first
primary_emails as (

    select
        component_nodes.component_rank,
        arg_min(
            component_nodes.identity_value,
            (contacts.contact_id is null, component_nodes.node_rank)
        ) as email
    from component_nodes
    left join primary_contacts
        on component_nodes.component_rank = primary_contacts.component_rank
    left join contacts
        on
            primary_contacts.contact_id = contacts.contact_id
            and component_nodes.identity_value = contacts.email
    where component_nodes.is_person_email
    group by component_nodes.component_rank

),

-- account attachment, by priority: the primary contact's account, else the domain of the earliest e-mail
contact_accounts as (

    select
        primary_contacts.component_rank,
        edges.to_identity_value as account_id
    from primary_contacts
    inner join edges
        on
            edges.edge_rule = 'crm_contact_account'
            and primary_contacts.contact_id = edges.from_identity_value

),

domain_accounts as (

    select
        component_nodes.component_rank,
        arg_min(edges.to_identity_value, component_nodes.node_rank) as account_id
    from component_nodes
    inner join edges
        on
            edges.edge_rule = 'email_domain'
            and component_nodes.identity_type = 'email'
            and component_nodes.identity_value = edges.from_identity_value
    group by component_nodes.component_rank

),

persons as (

    select
        anchors.component_rank,
        anchors.anchor_identity_key,
        'per_' || left(md5(anchors.anchor_identity_key), 16) as person_id,
        coalesce(contact_accounts.account_id, domain_accounts.account_id) as account_id,
        case
            when contact_accounts.account_id is not null then 'crm_contact_account'
            when domain_accounts.account_id is not null then 'email_domain'
        end as account_rule
    from anchors
    left join contact_accounts
        on anchors.component_rank = contact_accounts.component_rank
    left join domain_accounts
        on anchors.component_rank = domain_accounts.component_rank

),

-- the strongest merging edge that brought each identity into its component
node_rules as (

    select
        node_key,
        arg_min(edge_rule, edge_priority) as edge_rule
    from (
        select
            from_identity_type || ':' || from_identity_value as node_key,
            edge_rule,
            edge_priority
        from edges
        where is_merging_edge

        union all

        select
            to_identity_type || ':' || to_identity_value as node_key,
            edge_rule,
            edge_priority
        from edges
        where is_merging_edge
    ) as incident
    group by node_key

),

-- cookies and contacts whose only link to a person was a suppressed e-mail are forgotten with it
suppressed_links as (

    select distinct
        case
            when from_identity_type = 'email' then to_identity_type || ':' || to_identity_value
            else from_identity_type || ':' || from_identity_value
        end as node_key
    from edges
    where merge_exclusion = 'suppressed_email'

),

final as (

    select
        component_nodes.identity_key,
        component_nodes.identity_type,
        component_nodes.identity_value,
        persons.person_id,
        persons.account_id,
        case
            when persons.person_id is null then null
            when component_nodes.identity_key = persons.anchor_identity_key then 'anchor'
            else node_rules.edge_rule
        end as person_rule,
        persons.account_rule,
        persons.anchor_identity_key,
        component_nodes.identity_key = persons.anchor_identity_key as is_anchor,
        coalesce(
            component_nodes.identity_type = 'crm_contact_id'
            and component_nodes.identity_value = primary_contacts.contact_id,
            false
        ) as is_primary_contact,
        coalesce(
            component_nodes.identity_type = 'email'
            and component_nodes.identity_value = primary_emails.email,
            false
        ) as is_primary_email,
        persons.person_id is null and suppressed_links.node_key is not null as is_suppressed,
        component_nodes.first_loaded_at,
        component_nodes.first_seen_at
    from component_nodes
    left join persons
        on component_nodes.component_rank = persons.component_rank
    left join primary_contacts
        on component_nodes.component_rank = primary_contacts.component_rank
    left join primary_emails
        on component_nodes.component_rank = primary_emails.component_rank
    left join node_rules
        on component_nodes.identity_key = node_rules.node_key
    left join suppressed_links
        on component_nodes.identity_key = suppressed_links.node_key

)

select * from final
