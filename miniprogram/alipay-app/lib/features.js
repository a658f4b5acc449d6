// Parts of the service whose backend does not exist yet. Each is off, and a
// page shows nothing for it while it is off: no button that does nothing.
// This file is the same in both shells.
//
// - nucleicCode (核酸码): when the 核酸码 page lands, openCode({purpose})
//   in lib/flows.js gets its ticket purpose and the index page a button
//   (marked "PLACE: 核酸码" in pages/index).
// - venueCheckin (场所码签到): when the venue issue lands, the scan page
//   reads a venue code, calls POST /api/v1/checkins and opens the result
//   page (marked "PLACE: 场所签到" in pages/scan and lib/flows.js).
module.exports = {
  nucleicCode: false,
  venueCheckin: false,
}
