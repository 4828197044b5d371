/**
 * The till's side of offers: what a scanner read -> the token (the QR code holds the
 * short page `<base>/q/<token>`, as journeys/offers.py `token_from_scan`), and each
 * refusal of `POST /v1/offers/redeem` (docs/channels/offers.md) in words for staff. Pure.
 */

const SCAN_PATH = /\/q\/([^/?#\s]+)/;

export function tokenFromScan(text: string): string {
  const trimmed = text.trim();
  const found = SCAN_PATH.exec(trimmed);
  return found ? decodeURIComponent(found[1]) : trimmed;
}

export interface Refusal {
  title: string;
  advice: string;
}

const REFUSALS: Record<string, Refusal> = {
  unknown: { title: 'Unknown code', advice: 'No such offer in this workspace: check the code, or scan it again.' },
  used_up: { title: 'Already used', advice: 'This offer has no uses left.' },
  expired: { title: 'Expired', advice: 'This offer is past its expiry date.' },
  validation_error: { title: 'Not a code', advice: 'Type or scan the code printed under the QR code.' },
  forbidden: { title: 'Not allowed', advice: 'Your role cannot redeem offers; a redeemer or an admin can.' },
  busy: { title: 'Try again', advice: 'The offer store was busy; nothing was redeemed. Try again.' },
  network: { title: 'No connection', advice: 'Switchback cannot be reached; nothing was redeemed. Try again.' },
};

/** The refusal's title and advice by the API's `error.code`. */
export function refusalOf(code: string): Refusal {
  return REFUSALS[code] ?? { title: 'Refused', advice: 'The offer was not redeemed.' };
}

/** Does this browser scan QR codes with the camera (the BarcodeDetector API)? */
export function canScan(scope: Record<string, unknown> = globalThis as unknown as Record<string, unknown>): boolean {
  const nav = scope.navigator as { mediaDevices?: { getUserMedia?: unknown } } | undefined;
  return typeof scope.BarcodeDetector === 'function' && typeof nav?.mediaDevices?.getUserMedia === 'function';
}
