// What every page does around a tap: one action at a time, a notice while
// a request waits out Retry-After, the error's message on the page, elder
// mode applied. Pages of both platforms have setData, so this file is the
// same in both shells.

const { isElder } = require('./elder.js')

/**
 * act runs task for page: busy while it runs, "系统繁忙，N 秒后自动重试"
 * while the backend asks to wait, and on failure the message in
 * data.error (or the page that fixes the problem opened). It answers
 * task's result, or undefined when it failed or another action ran.
 */
async function act(page, shell, task) {
  if (page.data.busy) return undefined
  page.setData({ busy: true, notice: '', error: '' })
  const off = shell.onWait(seconds => page.setData({ notice: `系统繁忙，${seconds} 秒后自动重试…` }))
  try {
    return await task()
  } catch (err) {
    page.setData({ error: shell.handleError(err) })
    return undefined
  } finally {
    off()
    page.setData({ busy: false, notice: '' })
  }
}

/** show applies what every page shows on onShow: elder mode. */
function show(page, shell) {
  page.setData({ elder: isElder(shell.platform) })
}

/** fields are the data every page starts with. */
const fields = { elder: false, busy: false, notice: '', error: '' }

/** datasetOf reads data-* of a tapped element on either platform. */
function datasetOf(e) {
  const t = (e && (e.currentTarget || e.target)) || {}
  return t.dataset || {}
}

module.exports = { act, show, fields, datasetOf }
