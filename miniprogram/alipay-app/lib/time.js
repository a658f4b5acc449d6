// Times as the pages show them, in the service's zone (Asia/Shanghai, the
// offset the server writes into every timestamp). This file is the same in
// both shells.

/** parts reads an RFC 3339 timestamp's own wall clock, without converting. */
function parts(ts) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(String(ts || ''))
  if (!m) return null
  return { year: m[1], month: m[2], day: m[3], hour: m[4], minute: m[5] }
}

/**
 * untilText says until when a face check passed today lasts: the server's
 * face_valid_until is the next midnight, shown as "24:00" (the day's end),
 * as on the H5 pages.
 */
function untilText(ts) {
  const p = parts(ts)
  if (!p) return ''
  if (p.hour === '00' && p.minute === '00') return '24:00'
  return `${p.hour}:${p.minute}`
}

/** dateTimeText is "MM-DD HH:mm" of a timestamp, for review due times. */
function dateTimeText(ts) {
  const p = parts(ts)
  if (!p) return ''
  return `${p.month}-${p.day} ${p.hour}:${p.minute}`
}

module.exports = { untilText, dateTimeText }
