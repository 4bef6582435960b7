/**
 * The two CustomResourceDefinitions, built from schema.ts. `crdYaml` is what the chart
 * ships under charts/mailmesh/crds/ (written by operator/scripts/write-crds.mjs and
 * compared with the committed files by a test).
 */
import { stringify } from 'yaml';
import { type JsonSchema, mailDomainSchema, mailPolicySchema } from './schema.js';
import { crdGroup, crdNames, crdVersion } from './types.js';

interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date' | 'number' | 'boolean';
  jsonPath: string;
  description?: string;
  priority?: number;
}

/** apiextensions.k8s.io/v1 CustomResourceDefinition, as plain JSON. */
export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    group: string;
    scope: 'Namespaced';
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames: string[];
      categories: string[];
    };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: JsonSchema };
    }[];
  };
}

const ready: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
};
const reason: PrinterColumn = {
  name: 'Reason',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
  priority: 1,
};
const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

function crd(
  names: (typeof crdNames)[keyof typeof crdNames],
  schema: JsonSchema,
  columns: PrinterColumn[],
): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${names.plural}.${crdGroup}`,
      labels: { 'app.kubernetes.io/part-of': 'mailmesh' },
    },
    spec: {
      group: crdGroup,
      scope: 'Namespaced',
      names: {
        kind: names.kind,
        listKind: names.listKind,
        plural: names.plural,
        singular: names.singular,
        shortNames: [...names.shortNames],
        categories: ['mailmesh'],
      },
      versions: [
        {
          name: crdVersion,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: columns,
          schema: { openAPIV3Schema: structuredClone(schema) },
        },
      ],
    },
  };
}

export function mailDomainCrd(): CustomResourceDefinition {
  return crd(crdNames.mailDomain, mailDomainSchema, [
    { name: 'Domain', type: 'string', jsonPath: '.spec.domain' },
    { name: 'Mailboxes', type: 'integer', jsonPath: '.status.mailboxes' },
    ready,
    reason,
    age,
  ]);
}

export function mailPolicyCrd(): CustomResourceDefinition {
  return crd(crdNames.mailPolicy, mailPolicySchema, [
    { name: 'Direction', type: 'string', jsonPath: '.spec.direction' },
    ready,
    reason,
    age,
  ]);
}

export function crdManifests(): CustomResourceDefinition[] {
  return [mailDomainCrd(), mailPolicyCrd()];
}

/** File name under charts/mailmesh/crds/ -> YAML text. */
export function crdYaml(): Map<string, string> {
  const header =
    '# Generated from packages/config/src/crd/schema.ts by operator/scripts/write-crds.mjs.\n' +
    '# Do not edit: change the schema and run `npm run write-crds -w @mailmesh/operator`.\n';
  return new Map(
    crdManifests().map((c) => [
      `${c.metadata.name}.yaml`,
      header + stringify(c, { lineWidth: 0, aliasDuplicateObjects: false, singleQuote: true }),
    ]),
  );
}
