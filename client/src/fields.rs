//! Names of the per-member form's fields, in English and Chinese, for the CLI.

use rollcall_core::proto::MemberField;

/// (English name, Chinese name, field).
pub const FIELDS: &[(&str, &str, MemberField)] = &[
    ("name", "姓名", MemberField::Name),
    ("gender", "性别", MemberField::Gender),
    ("ethnicity", "民族", MemberField::Ethnicity),
    ("id_number", "公民身份证号", MemberField::IdNumber),
    ("birth_date", "出生日期", MemberField::BirthDate),
    ("education", "学历", MemberField::Education),
    ("category", "人员类别", MemberField::Category),
    ("branch", "所在党支部", MemberField::Branch),
    ("joined_date", "加入党组织日期", MemberField::JoinedDate),
    ("full_member_date", "转为正式党员日期", MemberField::FullMemberDate),
    ("job", "工作岗位", MemberField::Job),
    ("phone", "联系电话", MemberField::Phone),
    ("address", "家庭住址", MemberField::Address),
    ("membership_status", "党籍状态", MemberField::MembershipStatus),
    ("lost", "是否为失联党员", MemberField::Lost),
    ("flowing", "是否为流动党员", MemberField::Flowing),
    ("native_place", "籍贯", MemberField::NativePlace),
    ("person_group", "人员分类", MemberField::PersonGroup),
];

/// Parses a field name in either language.
///
/// # Errors
///
/// A message listing the accepted names.
pub fn parse_field(text: &str) -> Result<MemberField, String> {
    FIELDS.iter().find(|(en, zh, _)| *en == text || *zh == text).map(|(_, _, field)| *field).ok_or_else(|| {
        let names: Vec<String> = FIELDS.iter().map(|(en, zh, _)| format!("{en}/{zh}")).collect();
        format!("unknown field {text:?}; expected one of {}", names.join(", "))
    })
}

/// The field's name in the interface language.
pub fn field_name(field: i32, chinese: bool) -> String {
    FIELDS
        .iter()
        .find(|(_, _, f)| *f as i32 == field)
        .map(|(en, zh, _)| if chinese { (*zh).to_string() } else { (*en).to_string() })
        .unwrap_or_else(|| format!("field {field}"))
}
