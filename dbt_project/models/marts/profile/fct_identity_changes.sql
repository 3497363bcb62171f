with

history as (

    select * from {{ ref('snap_identity__person_map') }}

),

versions as (

    select
        identity_ref,
        person_id,
        dbt_valid_from,
        lag(person_id) over (partition by identity_ref order by dbt_valid_from) as previous_person_id
    from history

),

-- an identity that belonged to one person and now belongs to another
moves as (

    select
        identity_ref,
        previous_person_id as before_person_id,
        person_id as after_person_id,
        dbt_valid_from as detected_at
    from versions
    where
        previous_person_id is not null
        and previous_person_id != person_id

),

detections as (

    select distinct detected_at from moves

),

-- the persons that existed just before and just after each detection
persons_before as (

    select distinct
        detections.detected_at,
        history.person_id
    from detections
    inner join history
        on
            detections.detected_at > history.dbt_valid_from
            and (history.dbt_valid_to is null or detections.detected_at <= history.dbt_valid_to)

),

persons_after as (

    select distinct
        detections.detected_at,
        history.person_id
    from detections
    inner join history
        on
            detections.detected_at >= history.dbt_valid_from
            and (history.dbt_valid_to is null or detections.detected_at < history.dbt_valid_to)

),

-- merges: identities of one or more persons moved into a person (that may have existed already)
into_person as (

    select
        moves.detected_at,
        moves.after_person_id as person_id,
        list(distinct moves.before_person_id) as source_person_ids,
        list(distinct moves.identity_ref order by moves.identity_ref) as moved_identity_refs,
        count(distinct moves.identity_ref) as identities_moved
    from moves
    group by moves.detected_at, moves.after_person_id

),

merge_changes as (

    select
        'merge' as change_type,
        into_person.detected_at,
        into_person.person_id,
        list_sort(list_distinct(list_concat(
            into_person.source_person_ids,
            case when persons_before.person_id is not null then list_value(into_person.person_id) end
        ))) as before_person_ids,
        list_value(into_person.person_id) as after_person_ids,
        into_person.identities_moved,
        into_person.moved_identity_refs
    from into_person
    left join persons_before
        on
            into_person.detected_at = persons_before.detected_at
            and into_person.person_id = persons_before.person_id

),

-- splits: identities of one person moved to one or more persons (the person may live on)
out_of_person as (

    select
        moves.detected_at,
        moves.before_person_id as person_id,
        list(distinct moves.after_person_id) as target_person_ids,
        list(distinct moves.identity_ref order by moves.identity_ref) as moved_identity_refs,
        count(distinct moves.identity_ref) as identities_moved
    from moves
    group by moves.detected_at, moves.before_person_id

),

split_changes as (

    select
        'split' as change_type,
        out_of_person.detected_at,
        out_of_person.person_id,
        list_value(out_of_person.person_id) as before_person_ids,
        list_sort(list_distinct(list_concat(
            out_of_person.target_person_ids,
            case when persons_after.person_id is not null then list_value(out_of_person.person_id) end
        ))) as after_person_ids,
        out_of_person.identities_moved,
        out_of_person.moved_identity_refs
    from out_of_person
    left join persons_after
        on
            out_of_person.detected_at = persons_after.detected_at
            and out_of_person.person_id = persons_after.person_id

),

changes as (

    select * from merge_changes
    where len(before_person_ids) >= 2

    union all

    select * from split_changes
    where len(after_person_ids) >= 2

    union all

    -- a person renamed as a whole (its anchor was forgotten): one before id, one after id
    select
        'rename' as change_type,
        merge_changes.detected_at,
        merge_changes.person_id,
        merge_changes.before_person_ids,
        merge_changes.after_person_ids,
        merge_changes.identities_moved,
        merge_changes.moved_identity_refs
    from merge_changes
    inner join split_changes
        on
            merge_changes.detected_at = split_changes.detected_at
            and merge_changes.before_person_ids = split_changes.before_person_ids
            and merge_changes.after_person_ids = split_changes.after_person_ids
    where len(merge_changes.before_person_ids) = 1

),

final as (

    select
        md5(change_type || '|' || cast(detected_at as varchar) || '|' || person_id) as change_id,
        change_type,
        detected_at,
        person_id,
        before_person_ids,
        after_person_ids,
        identities_moved,
        moved_identity_refs
    from changes

)

select * from final
