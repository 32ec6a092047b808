//! The record vocabulary: every enumeration of SPEC §3 with its stable code and its Vietnamese and English labels.
//!
//! Codes are what documents, the wire and the database store; they never change once shipped.
//! Labels are what people read; Vietnamese is the default language of the product.

use serde::{Deserialize, Serialize};

/// A language the product speaks. Vietnamese is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Tiếng Việt.
    #[default]
    Vi,
    /// English.
    En,
}

impl Lang {
    /// Parses `vi` or `en` (anything else is `None`).
    pub fn from_code(code: &str) -> Option<Lang> {
        match code {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// `vi` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }
}

/// An enumeration whose variants have stable codes and bilingual labels.
pub trait Coded: Sized + Copy + 'static {
    /// Every variant, in display order.
    const ALL: &'static [Self];
    /// The stable code stored in documents.
    fn code(self) -> &'static str;
    /// The label shown to people.
    fn label(self, lang: Lang) -> &'static str;
    /// The variant with this code.
    fn from_code(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.code() == code)
    }
}

// `$code` is a `tt`, not a `literal`: a `literal` fragment reaches derive macros wrapped in an
// invisible group, which utoipa (feature `openapi`) does not read as a serde rename.
macro_rules! coded_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:tt, $vi:literal, $en:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $code)] $variant,)+
        }

        impl Coded for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn code(self) -> &'static str {
                match self { $($name::$variant => $code,)+ }
            }
            fn label(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $(($name::$variant, Lang::Vi) => $vi, ($name::$variant, Lang::En) => $en,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}

coded_enum! {
    /// The two kinds of record.
    RecordKind {
        /// Something that was held: a session, a training, an inspection.
        Activity = "activity", "Hoạt động", "Activity";
        /// A gender-based-violence case referred to a service. Sensitive personal data.
        GbvReferral = "gbv_referral", "Chuyển gửi vụ việc bạo lực giới", "GBV referral";
    }
}

coded_enum! {
    /// The plan's sections II.1–II.7 and 7.1–7.4 (the commune's 2026 plan, `seeds/`).
    PlanItem {
        /// II.1
        Legislation = "II.1", "Triển khai văn bản pháp luật, lồng ghép giới", "Gender equality legislation and mainstreaming";
        /// II.2
        Capacity = "II.2", "Kiện toàn tổ chức, nâng cao năng lực cán bộ", "Organisation and staff capacity";
        /// II.3
        Communication = "II.3", "Thông tin, giáo dục, truyền thông về bình đẳng giới", "Information, education and communication";
        /// II.4
        Inspection = "II.4", "Kiểm tra, xử lý vi phạm pháp luật về bình đẳng giới", "Inspection and handling of violations";
        /// II.5
        International = "II.5", "Hợp tác quốc tế về bình đẳng giới", "International cooperation";
        /// II.6
        NationalStrategy = "II.6", "Chiến lược quốc gia về bình đẳng giới 2021-2030", "National gender equality strategy 2021-2030";
        /// II.7
        Programmes = "II.7", "Chương trình, đề án bình đẳng giới và phòng ngừa bạo lực giới", "Gender equality and GBV programmes";
        /// II.7.1
        CommunicationProgramme = "II.7.1", "Chương trình Truyền thông về bình đẳng giới đến năm 2030", "Communication programme on gender equality to 2030";
        /// II.7.2
        GbvProgramme = "II.7.2", "Chương trình Phòng ngừa và ứng phó với bạo lực trên cơ sở giới 2026-2030", "GBV prevention and response programme 2026-2030";
        /// II.7.3
        WomenLeadership = "II.7.3", "Tăng cường sự tham gia của phụ nữ vào vị trí lãnh đạo, quản lý", "Women in leadership and management";
        /// II.7.4
        TargetProgrammes = "II.7.4", "Bình đẳng giới trong các Chương trình mục tiêu quốc gia", "Gender equality in the national target programmes";
    }
}

coded_enum! {
    /// What kind of activity was held.
    ActivityType {
        /// buổi truyền thông
        Communication = "communication", "Buổi truyền thông", "Communication session";
        /// tập huấn, bồi dưỡng
        Training = "training", "Tập huấn, bồi dưỡng", "Training / capacity building";
        /// đối thoại, hội nghị
        Dialogue = "dialogue", "Đối thoại, hội nghị", "Dialogue / conference";
        /// giao lưu, học tập kinh nghiệm
        Exchange = "exchange", "Giao lưu, học tập kinh nghiệm", "Experience exchange";
        /// kiểm tra
        Inspection = "inspection", "Kiểm tra", "Inspection";
        /// khác
        Other = "other", "Khác", "Other";
    }
}

coded_enum! {
    /// The format of a communication session.
    Format {
        /// họp
        Meeting = "meeting", "Họp, hội nghị", "Meeting";
        /// sinh hoạt câu lạc bộ
        Club = "club", "Sinh hoạt câu lạc bộ", "Club session";
        /// cuộc thi
        Contest = "contest", "Cuộc thi", "Contest";
        /// sân khấu hóa
        Performance = "performance", "Sân khấu hóa", "Staged performance";
        /// loa truyền thanh, thông tin đại chúng
        Loudspeaker = "loudspeaker", "Loa truyền thanh, thông tin đại chúng", "Loudspeaker / mass media";
        /// mạng xã hội
        SocialNetwork = "social_network", "Mạng xã hội", "Social network";
        /// đến từng hộ gia đình
        DoorToDoor = "door_to_door", "Đến từng hộ gia đình", "Door-to-door";
    }
}

coded_enum! {
    /// A topic an activity covered.
    Topic {
        /// phụ nữ tham gia lãnh đạo
        WomenLeadership = "women_leadership", "Phụ nữ tham gia lãnh đạo, quản lý", "Women in leadership";
        /// định kiến giới
        GenderStereotypes = "gender_stereotypes", "Định kiến giới trong công việc và gia đình", "Gender stereotypes in work and family";
        /// bạo lực gia đình
        GbvFamily = "gbv_family", "Bạo lực trên cơ sở giới trong gia đình", "GBV in the family";
        /// bạo lực nơi công cộng
        GbvPublic = "gbv_public", "Bạo lực trên cơ sở giới nơi công cộng", "GBV in public places";
        /// bạo lực trên mạng
        GbvOnline = "gbv_online", "Bạo lực trên cơ sở giới trên môi trường mạng", "GBV online";
        /// mất cân bằng giới tính khi sinh
        SexRatioAtBirth = "sex_ratio_at_birth", "Mất cân bằng giới tính khi sinh", "Sex ratio at birth";
        /// hủ tục
        HarmfulCustoms = "harmful_customs", "Hủ tục, tập quán có hại", "Harmful customs";
        /// xử phạt vi phạm hành chính
        AdministrativePenalties = "administrative_penalties", "Xử phạt vi phạm hành chính về bình đẳng giới", "Administrative penalties in gender equality";
        /// Luật Bình đẳng giới
        GenderEqualityLaw = "gender_equality_law", "Luật Bình đẳng giới", "Law on Gender Equality";
        /// khác
        Other = "other", "Khác", "Other";
    }
}

coded_enum! {
    /// The sex of a GBV survivor.
    Sex {
        /// nữ
        Female = "female", "Nữ", "Female";
        /// nam
        Male = "male", "Nam", "Male";
        /// khác
        Other = "other", "Khác", "Other";
    }
}

coded_enum! {
    /// The age group of a GBV survivor.
    AgeGroup {
        /// dưới 16
        Under16 = "under_16", "Dưới 16 tuổi", "Under 16";
        /// 16–17
        From16To17 = "16_17", "Từ 16 đến 17 tuổi", "16-17";
        /// 18–59
        From18To59 = "18_59", "Từ 18 đến 59 tuổi", "18-59";
        /// 60+
        Over60 = "60_plus", "Từ 60 tuổi trở lên", "60 and over";
    }
}

coded_enum! {
    /// A type of violence.
    ViolenceType {
        /// thể chất
        Physical = "physical", "Bạo lực thể chất", "Physical";
        /// tinh thần
        Psychological = "psychological", "Bạo lực tinh thần", "Psychological";
        /// tình dục
        Sexual = "sexual", "Bạo lực tình dục", "Sexual";
        /// kinh tế
        Economic = "economic", "Bạo lực kinh tế", "Economic";
    }
}

coded_enum! {
    /// Where the violence took place.
    Setting {
        /// gia đình
        Family = "family", "Trong gia đình", "Family";
        /// nơi công cộng
        PublicPlace = "public_place", "Nơi công cộng", "Public place";
        /// trên mạng
        Online = "online", "Trên môi trường mạng", "Online";
    }
}

coded_enum! {
    /// A service a case was referred to.
    Service {
        /// cơ sở y tế
        Health = "health", "Cơ sở y tế", "Health facility";
        /// công an
        Police = "police", "Công an", "Police";
        /// trợ giúp pháp lý
        LegalAid = "legal_aid", "Trợ giúp pháp lý", "Legal aid";
        /// Hội LHPN
        WomensUnion = "womens_union", "Hội Liên hiệp phụ nữ", "Women's union";
        /// địa chỉ tin cậy
        TrustedAddress = "trusted_address", "Địa chỉ tin cậy / nhà tạm lánh", "Trusted address / shelter";
        /// bảo trợ xã hội
        SocialProtection = "social_protection", "Bảo trợ xã hội", "Social protection";
        /// tư vấn
        Counselling = "counselling", "Tư vấn, tham vấn", "Counselling";
    }
}

coded_enum! {
    /// Where a GBV case stands.
    CaseStatus {
        /// đã chuyển gửi
        Referred = "referred", "Đã chuyển gửi", "Referred";
        /// đang được hỗ trợ
        ReceivingSupport = "receiving_support", "Đang được hỗ trợ", "Receiving support";
        /// đã kết thúc
        Closed = "closed", "Đã kết thúc", "Closed";
    }
}

coded_enum! {
    /// The review state of a record (SPEC §3).
    ReviewState {
        /// nháp
        Draft = "draft", "Nháp", "Draft";
        /// đã gửi
        Submitted = "submitted", "Đã gửi, chờ duyệt", "Submitted";
        /// đã duyệt
        Approved = "approved", "Đã duyệt", "Approved";
        /// trả lại
        Returned = "returned", "Trả lại", "Returned";
    }
}

coded_enum! {
    /// A person's role (SPEC §5). What each role may read is the server's access policy; what
    /// each may write is [`crate::rules`].
    Role {
        /// Cộng tác viên: own village's activities, own GBV referrals.
        Collaborator = "collaborator", "Cộng tác viên", "Collaborator";
        /// Phòng VHXH officer: every activity of the commune, GBV aggregates only.
        Reviewer = "reviewer", "Cán bộ Phòng Văn hóa-xã hội", "Reviewer";
        /// GBV focal point: GBV details of the commune.
        GbvFocalPoint = "gbv_focal_point", "Đầu mối phòng chống bạo lực giới", "GBV focal point";
        /// Users, villages, units, devices.
        Admin = "admin", "Quản trị", "Administrator";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: Coded + std::fmt::Debug + PartialEq>() {
        let mut codes = std::collections::HashSet::new();
        for &v in T::ALL {
            assert!(codes.insert(v.code()), "duplicate code {}", v.code());
            assert_eq!(T::from_code(v.code()), Some(v));
            assert!(!v.label(Lang::Vi).is_empty() && !v.label(Lang::En).is_empty());
        }
        assert_eq!(T::from_code("no-such-code"), None);
    }

    #[test]
    fn codes_are_unique_and_round_trip() {
        check::<RecordKind>();
        check::<PlanItem>();
        check::<ActivityType>();
        check::<Format>();
        check::<Topic>();
        check::<Sex>();
        check::<AgeGroup>();
        check::<ViolenceType>();
        check::<Setting>();
        check::<Service>();
        check::<CaseStatus>();
        check::<ReviewState>();
    }

    #[test]
    fn serde_uses_codes() {
        assert_eq!(serde_json::to_string(&PlanItem::GbvProgramme).unwrap(), "\"II.7.2\"");
        assert_eq!(serde_json::from_str::<AgeGroup>("\"16_17\"").unwrap(), AgeGroup::From16To17);
    }
}
