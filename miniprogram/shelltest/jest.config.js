// The WeChat shell's tests: pages under miniprogram-simulate in jsdom.
module.exports = {
  testEnvironment: 'jsdom',
  testMatch: ['<rootDir>/wechat/**/*.test.js'],
  // A test waits for real HTTP answers and for Retry-After (1 s): bounded.
  testTimeout: 30000,
  maxWorkers: 1,
  watchman: false,
  haste: { enableSymlinks: false },
}
