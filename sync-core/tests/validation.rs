//! Validation rules (one test per [`Rule`], each checking the field named and both languages'
//! messages) and review-state transitions (SPEC §3), including the `RecordError` texts.

use sotay_sync_core::schema::*;
use sotay_sync_core::*;
use uuid::Uuid;

/// 2026-11-18T…Z: "now" for every test here.
const NOW: i64 = 1_795_000_000_000;
const DAY_MS: i64 = 86_400_000;

fn today() -> Date {
    Date::from_unix_ms(NOW)
}

fn date(s: &str) -> Date {
    s.parse().unwrap()
}

fn editor(n: u128) -> Editor {
    Editor { device: DeviceId(Uuid::from_u128(0xd000 + n)), user: UserId(Uuid::from_u128(0xa000 + n)) }
}

fn create(kind: RecordKind, edits: &[Edit]) -> Record {
    Record::create(
        kind,
        RecordId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001)),
        CommuneId(Uuid::from_u128(3)),
        VillageId(Uuid::from_u128(4)),
        editor(1),
        edits,
        NOW,
    )
    .unwrap()
    .0
}

fn valid_activity_edits() -> Vec<Edit> {
    vec![
        Edit::Unit("hlhpn".into()),
        Edit::PlanItem(PlanItem::CommunicationProgramme),
        Edit::ActivityType(ActivityType::Communication),
        Edit::Format(Some(Format::Club)),
        Edit::AddTopic(Topic::GbvFamily),
        Edit::AddTopic(Topic::GenderEqualityLaw),
        Edit::HeldOn(date("2026-11-16")),
        Edit::Location("Nhà văn hóa thôn Đông".into()),
        Edit::Gps(Some(GeoPoint { lat: 21.0285, lon: 105.8542 })),
        Edit::AttendanceFemale(34),
        Edit::AttendanceMale(21),
        Edit::AttendanceEthnicMinority(Some(12)),
        Edit::Notes("Sinh hoạt CLB, phát tờ rơi. Liên hệ 0912345678.".into()),
    ]
}

fn valid_gbv_edits() -> Vec<Edit> {
    vec![
        Edit::Unit("hlhpn".into()),
        Edit::PlanItem(PlanItem::GbvProgramme),
        Edit::CaseCode("BL-2026-0007".into()),
        Edit::ReportedOn(date("2026-11-17")),
        Edit::SurvivorSex(Sex::Female),
        Edit::SurvivorAgeGroup(AgeGroup::From18To59),
        Edit::AddViolenceType(ViolenceType::Physical),
        Edit::AddViolenceType(ViolenceType::Psychological),
        Edit::Setting(Setting::Family),
        Edit::AddReferredTo(Service::Health),
        Edit::AddReferredTo(Service::TrustedAddress),
        Edit::CaseStatus(CaseStatus::ReceivingSupport),
        Edit::ConsentToShare(false),
        Edit::Notes("Đã chuyển đến trạm y tế xã ngày 15-11-2026.".into()),
    ]
}

fn valid_activity() -> Record {
    create(RecordKind::Activity, &valid_activity_edits())
}

fn valid_gbv() -> Record {
    create(RecordKind::GbvReferral, &valid_gbv_edits())
}

/// The valid edits of `kind` with `replaced` swapped in for every edit of the same field.
fn with(kind: RecordKind, replaced: &[Edit]) -> RecordView {
    let base = match kind {
        RecordKind::Activity => valid_activity_edits(),
        RecordKind::GbvReferral => valid_gbv_edits(),
    };
    let mut edits: Vec<Edit> = base.into_iter().filter(|e| replaced.iter().all(|r| r.field() != e.field())).collect();
    edits.extend_from_slice(replaced);
    create(kind, &edits).view()
}

/// Both languages' messages name the field (by its label in that language) and differ.
fn check_messages(e: &ValidationError) {
    let (vi, en) = (e.message(Lang::Vi), e.message(Lang::En));
    let (label_vi, label_en) = (e.field.label(Lang::Vi), e.field.label(Lang::En));
    assert!(vi.contains(label_vi), "{e:?}: {vi:?} does not name {label_vi:?}");
    assert!(en.contains(label_en), "{e:?}: {en:?} does not name {label_en:?}");
    assert_ne!(vi, en, "{e:?}: the Vietnamese and English messages are the same");
    assert!(vi.len() > label_vi.len() + 2, "{e:?}: {vi:?} says nothing beyond the label");
    assert!(en.len() > label_en.len() + 2, "{e:?}: {en:?} says nothing beyond the label");
}

/// The single validation error of `view`, after checking its messages.
fn only_error(view: &RecordView) -> ValidationError {
    let errs = validate(view, today());
    assert_eq!(errs.len(), 1, "expected exactly one error, got {errs:?}");
    check_messages(&errs[0]);
    errs[0]
}

fn assert_only(view: &RecordView, field: Field, rule: Rule) -> ValidationError {
    let e = only_error(view);
    assert_eq!(e, ValidationError { field, rule });
    e
}

fn assert_valid(view: &RecordView) {
    let errs = validate(view, today());
    assert!(errs.is_empty(), "expected no errors, got {errs:?}");
}

/// Every rule, in declaration order. `rule_index` is an exhaustive match, so adding a rule
/// without adding it here (and a test below) fails to compile.
const ALL_RULES: [Rule; 10] = [
    Rule::Required,
    Rule::NotNegative,
    Rule::ExceedsTotal,
    Rule::DateTooEarly,
    Rule::DateInFuture,
    Rule::TooLong,
    Rule::ContainsPhoneNumber,
    Rule::ContainsEmail,
    Rule::CaseCodeFormat,
    Rule::GpsOutOfRange,
];

fn rule_index(rule: Rule) -> usize {
    match rule {
        Rule::Required => 0,
        Rule::NotNegative => 1,
        Rule::ExceedsTotal => 2,
        Rule::DateTooEarly => 3,
        Rule::DateInFuture => 4,
        Rule::TooLong => 5,
        Rule::ContainsPhoneNumber => 6,
        Rule::ContainsEmail => 7,
        Rule::CaseCodeFormat => 8,
        Rule::GpsOutOfRange => 9,
    }
}

/// One failing view per rule (each breaking exactly that rule).
fn one_case_per_rule() -> Vec<RecordView> {
    let mut negative = valid_activity().view();
    negative.attendance_male = Some(-1);
    vec![
        with(RecordKind::Activity, &[Edit::Location("  ".into())]),
        negative,
        with(RecordKind::Activity, &[Edit::AttendanceEthnicMinority(Some(56))]),
        with(RecordKind::Activity, &[Edit::HeldOn(date("1999-12-31"))]),
        with(RecordKind::GbvReferral, &[Edit::ReportedOn(date("2026-11-19"))]),
        with(RecordKind::Activity, &[Edit::Location("x".repeat(201))]),
        with(RecordKind::GbvReferral, &[Edit::CaseCode("0912345678".into())]),
        with(RecordKind::GbvReferral, &[Edit::Notes("an@example.vn".into())]),
        with(RecordKind::GbvReferral, &[Edit::CaseCode("AB1".into())]),
        with(RecordKind::Activity, &[Edit::Gps(Some(GeoPoint { lat: 91.0, lon: 0.0 }))]),
    ]
}

#[test]
fn every_rule_has_a_case_and_bilingual_messages() {
    for (i, rule) in ALL_RULES.iter().enumerate() {
        assert_eq!(rule_index(*rule), i);
    }
    let cases = one_case_per_rule();
    assert_eq!(cases.len(), ALL_RULES.len());
    for (view, rule) in cases.iter().zip(ALL_RULES) {
        assert_eq!(only_error(view).rule, rule);
    }
}

#[test]
fn a_valid_activity_and_a_valid_gbv_referral_have_no_errors() {
    assert_valid(&valid_activity().view());
    assert_valid(&valid_gbv().view());
    // A non-communication activity needs no format.
    assert_valid(&with(RecordKind::Activity, &[Edit::ActivityType(ActivityType::Training), Edit::Format(None)]));
}

#[test]
fn required_fields_are_named_one_at_a_time() {
    use Field::*;
    let kinds = [
        (
            RecordKind::Activity,
            valid_activity_edits(),
            vec![Unit, PlanItem, ActivityType, Format, HeldOn, Location, AttendanceFemale, AttendanceMale],
        ),
        (
            RecordKind::GbvReferral,
            valid_gbv_edits(),
            vec![
                Unit,
                PlanItem,
                CaseCode,
                ReportedOn,
                SurvivorSex,
                SurvivorAgeGroup,
                ViolenceTypes,
                Setting,
                ReferredTo,
                CaseStatus,
                ConsentToShare,
            ],
        ),
    ];
    for (kind, edits, required) in kinds {
        for field in Field::of_kind(kind) {
            let without: Vec<Edit> = edits.iter().filter(|e| e.field() != *field).cloned().collect();
            let view = create(kind, &without).view();
            if required.contains(field) {
                assert_only(&view, *field, Rule::Required);
            } else {
                assert_valid(&view);
            }
        }
    }
}

#[test]
fn required_text_that_is_only_spaces_is_missing() {
    assert_only(&with(RecordKind::Activity, &[Edit::Unit(" \t ".into())]), Field::Unit, Rule::Required);
    assert_only(&with(RecordKind::Activity, &[Edit::Location("   ".into())]), Field::Location, Rule::Required);
    assert_only(&with(RecordKind::GbvReferral, &[Edit::CaseCode("  ".into())]), Field::CaseCode, Rule::Required);
}

#[test]
fn negative_attendance_is_rejected() {
    // Edits take u32, so a negative count can only come from a foreign document: check the view.
    for field in [Field::AttendanceFemale, Field::AttendanceMale, Field::AttendanceEthnicMinority] {
        let mut view = valid_activity().view();
        match field {
            Field::AttendanceFemale => view.attendance_female = Some(-3),
            Field::AttendanceMale => view.attendance_male = Some(-3),
            _ => view.attendance_ethnic_minority = Some(-3),
        }
        assert_only(&view, field, Rule::NotNegative);
    }
    assert_valid(&with(
        RecordKind::Activity,
        &[Edit::AttendanceFemale(0), Edit::AttendanceMale(0), Edit::AttendanceEthnicMinority(Some(0))],
    ));
}

#[test]
fn ethnic_minority_attendance_may_equal_but_not_exceed_the_total() {
    let counts = |em| {
        with(
            RecordKind::Activity,
            &[Edit::AttendanceFemale(34), Edit::AttendanceMale(21), Edit::AttendanceEthnicMinority(em)],
        )
    };
    let equal = counts(Some(55));
    assert_eq!(equal.attendance_total, Some(55));
    assert_valid(&equal);
    assert_only(&counts(Some(56)), Field::AttendanceEthnicMinority, Rule::ExceedsTotal);
    assert_valid(&counts(None));
}

#[test]
fn dates_before_2000_are_rejected() {
    let e = assert_only(
        &with(RecordKind::Activity, &[Edit::HeldOn(date("1999-12-31"))]),
        Field::HeldOn,
        Rule::DateTooEarly,
    );
    assert!(e.message(Lang::Vi).contains("2000-01-01"));
    assert!(e.message(Lang::En).contains("2000-01-01"));
    assert_valid(&with(RecordKind::Activity, &[Edit::HeldOn(date("2000-01-01"))]));
    assert_only(
        &with(RecordKind::GbvReferral, &[Edit::ReportedOn(date("1975-04-30"))]),
        Field::ReportedOn,
        Rule::DateTooEarly,
    );
}

#[test]
fn tomorrow_is_rejected_and_today_accepted() {
    let tomorrow = Date::from_unix_ms(NOW + DAY_MS);
    assert_eq!(tomorrow.days_since_epoch(), today().days_since_epoch() + 1);
    assert_only(&with(RecordKind::Activity, &[Edit::HeldOn(tomorrow)]), Field::HeldOn, Rule::DateInFuture);
    assert_valid(&with(RecordKind::Activity, &[Edit::HeldOn(today())]));
    assert_only(&with(RecordKind::GbvReferral, &[Edit::ReportedOn(tomorrow)]), Field::ReportedOn, Rule::DateInFuture);
    assert_valid(&with(RecordKind::GbvReferral, &[Edit::ReportedOn(today())]));
}

#[test]
fn overlong_text_is_rejected_counting_characters_not_bytes() {
    // Unit: 64 characters.
    assert_valid(&with(RecordKind::Activity, &[Edit::Unit("đ".repeat(64))]));
    let e = assert_only(&with(RecordKind::Activity, &[Edit::Unit("đ".repeat(65))]), Field::Unit, Rule::TooLong);
    assert!(e.message(Lang::Vi).contains("64") && e.message(Lang::En).contains("64"));
    // Location: 200 characters (each of these is 3 bytes in UTF-8).
    assert_valid(&with(RecordKind::Activity, &[Edit::Location("ạ".repeat(200))]));
    let e =
        assert_only(&with(RecordKind::Activity, &[Edit::Location("ạ".repeat(201))]), Field::Location, Rule::TooLong);
    assert!(e.message(Lang::Vi).contains("200") && e.message(Lang::En).contains("200"));
    // Notes: 5000 characters, for both kinds.
    for kind in RecordKind::ALL {
        assert_valid(&with(*kind, &[Edit::Notes("ơ".repeat(5000))]));
        let e = assert_only(&with(*kind, &[Edit::Notes("ơ".repeat(5001))]), Field::Notes, Rule::TooLong);
        assert!(e.message(Lang::Vi).contains("5000") && e.message(Lang::En).contains("5000"));
    }
}

#[test]
fn phone_numbers_are_rejected_in_gbv_referrals() {
    assert_only(
        &with(RecordKind::GbvReferral, &[Edit::CaseCode("0912345678".into())]),
        Field::CaseCode,
        Rule::ContainsPhoneNumber,
    );
    for notes in ["Gọi cho chị ấy: 0912 345 678", "sđt +84 912 345 678", "091.234.5678"] {
        assert_only(
            &with(RecordKind::GbvReferral, &[Edit::Notes(notes.into())]),
            Field::Notes,
            Rule::ContainsPhoneNumber,
        );
    }
    // Dates in notes are not phone numbers.
    assert_valid(&with(RecordKind::GbvReferral, &[Edit::Notes("Ngày 15-11-2026".into())]));
    // Activities are not sensitive: a contact number in their notes is fine.
    assert_valid(&with(RecordKind::Activity, &[Edit::Notes("Liên hệ 0912345678".into())]));
}

#[test]
fn email_addresses_are_rejected_in_gbv_notes() {
    assert_only(
        &with(RecordKind::GbvReferral, &[Edit::Notes("thư cho chi.lan@example.vn nhé".into())]),
        Field::Notes,
        Rule::ContainsEmail,
    );
    assert_valid(&with(RecordKind::GbvReferral, &[Edit::Notes("họp @ nhà văn hóa".into())]));
}

#[test]
fn case_codes_are_4_to_24_ascii_letters_digits_or_dashes() {
    for ok in ["AB12", "bl-2026-0007", &"A".repeat(24), "  AB-12  "] {
        assert_valid(&with(RecordKind::GbvReferral, &[Edit::CaseCode(ok.into())]));
    }
    for bad in ["AB1", &"A".repeat(25), "AB 123", "MÃ-0001", "AB_123", "AB/12"] {
        assert_only(
            &with(RecordKind::GbvReferral, &[Edit::CaseCode(bad.into())]),
            Field::CaseCode,
            Rule::CaseCodeFormat,
        );
    }
}

#[test]
fn gps_out_of_range_is_rejected() {
    for (lat, lon) in [(91.0, 105.0), (-90.5, 105.0), (21.0, 180.5), (21.0, -181.0)] {
        assert_only(
            &with(RecordKind::Activity, &[Edit::Gps(Some(GeoPoint { lat, lon }))]),
            Field::Gps,
            Rule::GpsOutOfRange,
        );
    }
    for (lat, lon) in [(90.0, 180.0), (-90.0, -180.0), (0.0, 0.0)] {
        assert_valid(&with(RecordKind::Activity, &[Edit::Gps(Some(GeoPoint { lat, lon }))]));
    }
    assert_valid(&with(RecordKind::Activity, &[Edit::Gps(None)]));
}

#[test]
fn errors_come_in_field_order_and_all_name_their_field() {
    let view = create(RecordKind::Activity, &[Edit::HeldOn(date("2030-01-01"))]).view();
    let errs = validate(&view, today());
    let fields: Vec<Field> = errs.iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        [
            Field::Unit,
            Field::PlanItem,
            Field::ActivityType,
            Field::HeldOn,
            Field::Location,
            Field::AttendanceFemale,
            Field::AttendanceMale,
        ]
    );
    assert_eq!(errs[3].rule, Rule::DateInFuture);
    errs.iter().for_each(check_messages);
    let empty_gbv = create(RecordKind::GbvReferral, &[]).view();
    let errs = validate(&empty_gbv, today());
    assert_eq!(errs.len(), 11, "{errs:?}");
    assert!(errs.iter().all(|e| e.rule == Rule::Required));
    errs.iter().for_each(check_messages);
}

// ---- review-state transitions ----

fn state(r: &mut Record) -> (ReviewState, bool) {
    let v = r.view();
    (v.review_state, v.changed_after_approval)
}

#[test]
fn a_new_record_is_a_draft() {
    assert_eq!(state(&mut valid_activity()), (ReviewState::Draft, false));
    assert_eq!(valid_gbv().view().review_comment, None);
}

#[test]
fn draft_to_submitted_when_valid() {
    for mut r in [valid_activity(), valid_gbv()] {
        let change = r.submit(today(), NOW + 1).unwrap();
        assert!(!change.is_empty());
        assert_eq!(state(&mut r), (ReviewState::Submitted, false));
    }
}

#[test]
fn an_invalid_draft_cannot_be_submitted_and_is_left_unchanged() {
    let mut r =
        create(RecordKind::Activity, &[Edit::Unit("hlhpn".into()), Edit::HeldOn(Date::from_unix_ms(NOW + DAY_MS))]);
    let before = r.view();
    let err = r.submit(today(), NOW + 1).unwrap_err();
    let RecordError::Invalid(errs) = &err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(*errs, validate(&before, today()));
    assert!(errs.contains(&ValidationError { field: Field::HeldOn, rule: Rule::DateInFuture }));
    assert!(errs.contains(&ValidationError { field: Field::Location, rule: Rule::Required }));
    // Both languages' messages exist for every error the refusal carries.
    errs.iter().for_each(check_messages);
    // The English Display lists each error's English message.
    let text = err.to_string();
    assert!(text.starts_with("the record is not valid: "), "{text}");
    for e in errs {
        assert!(text.contains(&e.message(Lang::En)), "{text} lacks {}", e.message(Lang::En));
    }
    assert_eq!(r.view(), before, "a refused submission must not change the document");
}

#[test]
fn submitted_to_approved() {
    let mut r = valid_activity();
    r.submit(today(), NOW + 1).unwrap();
    r.approve(NOW + 2).unwrap();
    assert_eq!(state(&mut r), (ReviewState::Approved, false));
}

#[test]
fn submitted_to_returned_with_a_comment() {
    let mut r = valid_gbv();
    r.submit(today(), NOW + 1).unwrap();
    r.return_to_author("Thiếu nơi chuyển gửi", NOW + 2).unwrap();
    let v = r.view();
    assert_eq!(v.review_state, ReviewState::Returned);
    assert_eq!(v.review_comment.as_deref(), Some("Thiếu nơi chuyển gửi"));
}

#[test]
fn returning_without_a_comment_is_refused() {
    let mut r = valid_activity();
    r.submit(today(), NOW + 1).unwrap();
    for comment in ["", "   ", "\n\t"] {
        let err = r.return_to_author(comment, NOW + 2).unwrap_err();
        assert!(matches!(err, RecordError::CommentRequired), "{err:?}");
        assert_eq!(err.to_string(), "returning a record needs a comment");
    }
    assert_eq!(state(&mut r), (ReviewState::Submitted, false));
}

#[test]
fn a_draft_cannot_be_approved_or_returned() {
    let mut r = valid_activity();
    let err = r.approve(NOW + 1).unwrap_err();
    assert!(matches!(err, RecordError::Transition { from: ReviewState::Draft, action: "approve" }), "{err:?}");
    assert_eq!(err.to_string(), "cannot approve a record that is draft");
    let err = r.return_to_author("Sai ngày", NOW + 1).unwrap_err();
    assert!(matches!(err, RecordError::Transition { from: ReviewState::Draft, action: "return" }), "{err:?}");
    assert_eq!(err.to_string(), "cannot return a record that is draft");
    assert_eq!(state(&mut r), (ReviewState::Draft, false));
}

#[test]
fn other_refused_transitions_name_the_state_and_action() {
    let mut r = valid_activity();
    r.submit(today(), NOW + 1).unwrap();
    let err = r.submit(today(), NOW + 2).unwrap_err();
    assert!(matches!(err, RecordError::Transition { from: ReviewState::Submitted, action: "submit" }));
    assert_eq!(err.to_string(), "cannot submit a record that is submitted");
    r.approve(NOW + 3).unwrap();
    for err in [
        r.approve(NOW + 4).unwrap_err(),
        r.return_to_author("x", NOW + 4).unwrap_err(),
        r.submit(today(), NOW + 4).unwrap_err(),
    ] {
        let RecordError::Transition { from, action } = err else {
            panic!("expected Transition, got {err:?}");
        };
        assert_eq!(from, ReviewState::Approved);
        assert_eq!(err.to_string(), format!("cannot {action} a record that is approved"));
    }
}

#[test]
fn returned_then_edited_is_submitted_again() {
    let mut r = valid_activity();
    r.submit(today(), NOW + 1).unwrap();
    r.return_to_author("Sửa số người tham dự", NOW + 2).unwrap();
    r.edit(&[Edit::AttendanceMale(22)], NOW + 3).unwrap().unwrap();
    assert_eq!(state(&mut r), (ReviewState::Submitted, false));
    // Effective state Submitted: the reviewer can act on it again.
    r.approve(NOW + 4).unwrap();
    assert_eq!(state(&mut r), (ReviewState::Approved, false));
}

#[test]
fn returned_can_be_resubmitted_explicitly() {
    let mut r = valid_gbv();
    r.submit(today(), NOW + 1).unwrap();
    r.return_to_author("Kiểm tra lại", NOW + 2).unwrap();
    r.submit(today(), NOW + 3).unwrap();
    assert_eq!(state(&mut r), (ReviewState::Submitted, false));
}

#[test]
fn approved_then_edited_is_submitted_and_changed_after_approval_until_approved_again() {
    let mut r = valid_activity();
    r.submit(today(), NOW + 1).unwrap();
    r.approve(NOW + 2).unwrap();
    r.edit(&[Edit::Location("Hội trường UBND xã".into())], NOW + 3).unwrap().unwrap();
    assert_eq!(state(&mut r), (ReviewState::Submitted, true));
    r.approve(NOW + 4).unwrap();
    assert_eq!(state(&mut r), (ReviewState::Approved, false));
}

#[test]
fn a_no_op_edit_after_approval_changes_nothing() {
    let mut r = valid_activity();
    r.submit(today(), NOW + 1).unwrap();
    r.approve(NOW + 2).unwrap();
    assert_eq!(r.edit(&[Edit::AttendanceMale(21)], NOW + 3).unwrap(), None);
    assert_eq!(state(&mut r), (ReviewState::Approved, false));
}

#[test]
fn deleted_records_refuse_edits_and_review() {
    let mut r = valid_activity();
    r.delete(NOW + 1).unwrap();
    let err = r.submit(today(), NOW + 2).unwrap_err();
    assert!(matches!(err, RecordError::Deleted), "{err:?}");
    assert_eq!(err.to_string(), "the record is deleted");
    assert!(matches!(r.edit(&[Edit::AttendanceMale(1)], NOW + 2), Err(RecordError::Deleted)));
    assert!(matches!(r.delete(NOW + 2), Err(RecordError::Deleted)));

    let mut r = valid_activity();
    r.submit(today(), NOW + 1).unwrap();
    r.delete(NOW + 2).unwrap();
    assert!(matches!(r.approve(NOW + 3), Err(RecordError::Deleted)));
    r.restore(NOW + 4).unwrap().unwrap();
    r.approve(NOW + 5).unwrap();
    assert_eq!(state(&mut r), (ReviewState::Approved, false));
}

#[test]
fn other_record_errors_read_sensibly() {
    let mut r = valid_activity();
    let err = r.edit(&[Edit::CaseCode("AB-1234".into())], NOW + 1).unwrap_err();
    assert!(matches!(err, RecordError::WrongKind { kind: RecordKind::Activity, field: "case_code" }));
    assert_eq!(err.to_string(), "activity records have no field case_code");
    let err = r.resolve(Field::Location, 0, NOW + 1).unwrap_err();
    assert!(matches!(err, RecordError::NoSuchConflict("location")));
    assert_eq!(err.to_string(), "no conflict on location with that value");
    assert_eq!(
        RecordError::UnsupportedSchema(2).to_string(),
        "record schema version 2 is newer than this app understands (1); update the app"
    );
    assert_eq!(RecordError::NotARecord("id").to_string(), "not a Sổ Tay record: id");
}

#[test]
fn notes_past_the_limit_are_refused_before_the_text_diff() {
    // A pasted page of notes: merging it as a text diff would take minutes (found by fuzzing).
    let mut record = valid_activity();
    let page = "ghi chú ".repeat(25_500);
    let refused = record.edit(&[Edit::Notes(page)], 1_795_651_200_000);
    assert!(
        matches!(refused, Err(RecordError::Invalid(ref e)) if e[0].field == Field::Notes && e[0].rule == Rule::TooLong)
    );
    let at_limit = "x".repeat(validate::MAX_NOTES_CHARS);
    assert!(record.edit(&[Edit::Notes(at_limit)], 1_795_651_200_001).unwrap().is_some(), "the limit itself is fine");
}
