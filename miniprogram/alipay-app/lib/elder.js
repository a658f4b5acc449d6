// Elder mode (长辈模式): larger type on every page of the shell, remembered
// in storage under the same key and value the H5 pages use ("hc_elder" =
// "1"). This file is the same in both shells.

const elderKey = 'hc_elder'

function isElder(platform) {
  return platform.storage.get(elderKey) === '1'
}

function setElder(platform, on) {
  platform.storage.set(elderKey, on ? '1' : '0')
}

module.exports = { isElder, setElder, elderKey }
