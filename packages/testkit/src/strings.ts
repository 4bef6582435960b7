/**
 * The EICAR anti-virus test file (68 bytes). Built from parts so that this package's own
 * sources and dist files are not quarantined by a scanner on a developer's machine.
 */
export const EICAR: string = [
  'X5O!P%@AP[4\\PZX54(P^)7CC)7}$',
  'EICAR-STANDARD-ANTIVIRUS',
  '-TEST-FILE!$H+H*',
].join('');

/** The GTUBE spam test string: SpamAssassin scores a message containing it at 1000. */
export const GTUBE: string = [
  'XJS*C4JDBQADN1.NSBN3*2IDNEN*',
  'GTUBE-STANDARD-ANTI-UBE',
  '-TEST-EMAIL*C.34X',
].join('');
