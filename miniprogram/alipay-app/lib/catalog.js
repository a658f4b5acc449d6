// The document types and relations the backend accepts, with the labels the
// pages show. The lists are the server's (models.DocTypes and the relations
// of models.ValidRelation): a Go test holds both shells to them.
// This file is the same in both shells.

const docTypes = [
  { value: 'resident_id', label: '居民身份证' },
  { value: 'passport', label: '护照' },
  { value: 'hk_macao_permit', label: '港澳居民来往内地通行证' },
  { value: 'taiwan_permit', label: '台湾居民来往大陆通行证' },
  { value: 'residence_permit', label: '港澳台居民居住证' },
  { value: 'foreign_permanent_id', label: '外国人永久居留身份证' },
  { value: 'birth_certificate', label: '出生医学证明' },
]

/** selfDocTypes are the documents a person binds for themself (not a birth certificate). */
const selfDocTypes = docTypes.filter(d => d.value !== 'birth_certificate')

const relations = [
  { value: 'child', label: '子女' },
  { value: 'parent', label: '父母' },
  { value: 'spouse', label: '配偶' },
  { value: 'grandparent', label: '祖父母/外祖父母' },
  { value: 'grandchild', label: '孙子女/外孙子女' },
  { value: 'other', label: '其他' },
]

const statusLabels = {
  approved: '已通过',
  pending: '人工审核中',
  rejected: '未通过',
  deleted: '已解除',
}

const evidenceLabels = {
  household: '同一户籍',
  birth_record: '出生医学证明',
  manual: '人工审核',
}

function labelOf(list, value) {
  const item = list.find(x => x.value === value)
  return item ? item.label : value
}

/**
 * normaliseDocNumber trims a typed number, drops spaces, turns full-width
 * letters and digits half-width and upper-cases them, so an ID ending in "x"
 * and "１１０１…００２Ｘ" reach the server as "…002X". The server validates.
 */
function normaliseDocNumber(s) {
  return String(s || '')
    .replace(/[\uFF01-\uFF5E]/g, c => String.fromCharCode(c.charCodeAt(0) - 0xfee0))
    .replace(/[\s\u3000]+/g, '')
    .toUpperCase()
}

module.exports = { docTypes, selfDocTypes, relations, statusLabels, evidenceLabels, labelOf, normaliseDocNumber }
