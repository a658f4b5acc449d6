package models

// Reasons a verify answer gives for a code that does not pass (Verdict.Reason).
const (
	ReasonExpired         = "expired"
	ReasonMalformed       = "malformed"
	ReasonUnknownKey      = "unknown_key"
	ReasonBadSignature    = "bad_signature"
	ReasonWrongIssuer     = "wrong_issuer"
	ReasonNotYetValid     = "not_yet_valid"
	ReasonLifetime        = "lifetime"
	ReasonRetiredKey      = "retired_key"
	ReasonUnsupportedKind = "unsupported_kind"
	ReasonLinkPending     = "link_" + LinkPending
	ReasonLinkRejected    = "link_" + LinkRejected
	ReasonLinkDeleted     = "link_" + LinkDeleted
	ReasonLinkUnknown     = "link_unknown"
	// ReasonNotHealthCode is a code that only identifies its holder (a
	// 核酸码): it proves who they are, not their health.
	ReasonNotHealthCode = "not_a_health_code"
	// Reasons a venue code no longer stands, and ReasonVenueCode: a venue
	// code shown where a person's code is asked for (it names a place).
	ReasonVenueRotated = "rotated"
	ReasonVenueEnded   = "venue_ended"
	ReasonVenuePending = "venue_pending_review"
	ReasonVenueRefused = "venue_rejected"
	ReasonVenueUnknown = "venue_unknown"
	ReasonVenueCode    = "venue_code"
	// ReasonReissued is an offline code superseded by a newer issue (补领);
	// ReasonReportedLost one whose holder reported it lost (挂失).
	ReasonReissued     = "reissued"
	ReasonReportedLost = "reported_lost"
)

// VerifyReasons lists every reason the checker gives, in the order a reader
// meets them: the code's age, its form, its signature, its kind's policy.
var VerifyReasons = []string{
	ReasonExpired, ReasonMalformed, ReasonUnknownKey, ReasonBadSignature, ReasonWrongIssuer, ReasonNotYetValid,
	ReasonLifetime, ReasonRetiredKey, ReasonUnsupportedKind, ReasonNotHealthCode,
	ReasonLinkPending, ReasonLinkRejected, ReasonLinkDeleted, ReasonLinkUnknown,
	ReasonVenueCode, ReasonVenueRotated, ReasonVenueEnded, ReasonVenuePending, ReasonVenueRefused, ReasonVenueUnknown,
	ReasonReissued, ReasonReportedLost,
}

// ReasonText returns the words staff at a gate read for a reason: what
// happened and, where there is something to do, what to ask of the holder.
// An empty reason is "", a reason this version does not know a generic
// sentence (never the code itself, which means nothing to staff).
func ReasonText(reason string) string {
	switch reason {
	case "":
		return ""
	case ReasonExpired:
		return "已过期（截图或旧码），请对方刷新"
	case ReasonMalformed:
		return "非本系统二维码"
	case ReasonUnknownKey:
		return "非本系统签发的码（签发密钥未知）"
	case ReasonBadSignature:
		return "签名无效，码可能被篡改"
	case ReasonWrongIssuer:
		return "非本地区签发的码"
	case ReasonNotYetValid:
		return "码的签发时间晚于当前时间，请对方核对手机时间后刷新"
	case ReasonLifetime:
		return "码的有效期不合规，非本系统签发"
	case ReasonRetiredKey:
		return "签发密钥已停用，请对方刷新"
	case ReasonUnsupportedKind:
		return "此类码不能在此核验"
	case ReasonNotHealthCode:
		return "这是核酸码，仅用于采样登记，请对方出示健康码"
	case ReasonLinkPending:
		return "亲属关系审核中，亲属码暂不可用"
	case ReasonLinkRejected:
		return "亲属关系未通过审核"
	case ReasonLinkDeleted:
		return "亲属关系已解除"
	case ReasonLinkUnknown:
		return "亲属关系不存在"
	case ReasonVenueCode:
		return "这是场所码，用于扫码登记，请对方出示健康码"
	case ReasonVenueRotated:
		return "场所码已更换，请扫描场所张贴的最新场所码"
	case ReasonVenueEnded:
		return "该场所码已停用"
	case ReasonVenuePending:
		return "该场所码正在审核，暂不可用"
	case ReasonVenueRefused:
		return "该场所码未通过审核"
	case ReasonVenueUnknown:
		return "场所码无法识别"
	case ReasonReissued:
		return "离线码已补领，此纸质码作废，请对方出示新码"
	case ReasonReportedLost:
		return "离线码已挂失，此纸质码作废"
	}
	return "码无法通过核验，请对方刷新后重试"
}
