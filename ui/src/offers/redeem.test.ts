import { describe, expect, it } from 'vitest';

import { canScan, refusalOf, tokenFromScan } from './redeem';

describe('redeeming', () => {
  it('reads the token from a typed code or a scanned /q/ URL', () => {
    expect(tokenFromScan('  spring_sale-ann_42-Qm9Jx3T0b2tlbl9yYW5kb20 ')).toBe('spring_sale-ann_42-Qm9Jx3T0b2tlbl9yYW5kb20');
    expect(tokenFromScan('https://shop.example.com/q/spring_sale-ann-AbC_d-e')).toBe('spring_sale-ann-AbC_d-e');
    expect(tokenFromScan('http://127.0.0.1:8000/q/x-y-z/qr.png')).toBe('x-y-z');
    expect(tokenFromScan('https://s.example/q/tok?utm=1')).toBe('tok');
  });

  it('says why an offer was refused', () => {
    expect(refusalOf('used_up').title).toBe('Already used');
    expect(refusalOf('expired').title).toBe('Expired');
    expect(refusalOf('unknown').advice).toMatch(/check the code/);
    expect(refusalOf('something_new').title).toBe('Refused');
  });

  it('offers the camera only where BarcodeDetector and getUserMedia exist', () => {
    expect(canScan({})).toBe(false);
    expect(canScan({ BarcodeDetector: class {}, navigator: {} })).toBe(false);
    expect(canScan({ BarcodeDetector: class {}, navigator: { mediaDevices: { getUserMedia: () => null } } })).toBe(true);
  });
});
