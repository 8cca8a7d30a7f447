// impact-bot on Azure, in one resource group (deployment/README.md walks through it):
//
//   Azure Bot (Teams channel only; Web Chat and Direct Line off), its identity a user-assigned
//     managed identity (no secret) or a single-tenant app registration (secret in Key Vault);
//   Container Apps: the bot, 2 replicas, /healthz and /readyz probes; a manual job for
//     `impact-bot db upgrade` (run it before each release's rolling restart);
//   Azure Database for PostgreSQL Flexible Server 15;
//   Key Vault for the secrets (the database URL with its password, the bot's client secret,
//     the /metrics token), read by the app through its managed identity;
//   Log Analytics and Application Insights (logs, traces, alerts).
//
// Preview:  az deployment group what-if -g RG -f deployment/azure/main.bicep -p @deployment/azure/main.parameters.json
// Deploy:   az deployment group create -g RG -f deployment/azure/main.bicep -p @deployment/azure/main.parameters.json

targetScope = 'resourceGroup'

@description('Short name used in every resource name, e.g. "impact-rxy" (letters, digits, hyphens).')
@minLength(3)
@maxLength(16)
param namePrefix string

@description('Azure region for everything but the bot registration (which is global).')
param location string = resourceGroup().location

@description('Container image of the bot, e.g. myregistry.azurecr.io/impact-bot:0.1.0.')
param image string

@description('Name of the Azure Container Registry (in this resource group) holding the image; the app pulls with its managed identity, given AcrPull here. Empty for a public image.')
param registryName string = ''

@description('How the bot proves who it is to Teams: UserAssignedMSI (no secret; recommended) or SingleTenant (an app registration and its client secret).')
@allowed([
  'UserAssignedMSI'
  'SingleTenant'
])
param botAppType string = 'UserAssignedMSI'

@description('SingleTenant only: the app registration\'s Application (client) ID.')
param botAppId string = ''

@description('SingleTenant only: the app registration\'s client secret. Stored in Key Vault, never in the app settings.')
@secure()
param botAppPassword string = ''

@description('Entra object ids of the improvement team (comma-separated): who may run rounds.')
param adminIds string = ''

@description('Teams id of the improvement team\'s Team, which gets every round summary (optional).')
param improvementTeamId string = ''

@description('Administrator login of the PostgreSQL server.')
param postgresAdminLogin string = 'impactadmin'

@description('Password of that login: at least 16 characters. Stored in Key Vault (as part of the database URL).')
@secure()
@minLength(16)
param postgresAdminPassword string

@description('Leave empty. Set only to point the bot at another database (after a point-in-time restore, deployment/README.md): a full postgresql:// URL.')
@secure()
param databaseUrlOverride string = ''

@description('Token a metrics scraper sends as "Authorization: Bearer <token>" to /metrics.')
@secure()
@minLength(24)
param metricsToken string

@description('PostgreSQL compute: Burstable B1ms suits a trust of a few thousand staff.')
param postgresSku string = 'Standard_B1ms'

@description('PostgreSQL tier matching the SKU.')
@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param postgresTier string = 'Burstable'

@description('Days of point-in-time restore the PostgreSQL server keeps (7 to 35).')
@minValue(7)
@maxValue(35)
param backupRetentionDays int = 35

@description('Replicas of the bot: 2 or more, so one can restart while the other answers.')
@minValue(2)
@maxValue(10)
param replicas int = 2

@description('Days Log Analytics keeps logs.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 90

@description('Private address space of the virtual network: free in your estate, holding the three subnets below.')
param addressSpace string = '10.60.0.0/16'

@description('Subnet of the Container Apps environment: a /23 at least.')
param appsSubnet string = '10.60.0.0/23'

@description('Subnet delegated to PostgreSQL.')
param databaseSubnet string = '10.60.2.0/28'

@description('Subnet of the private endpoints (Key Vault).')
param endpointsSubnet string = '10.60.2.16/28'

@description('Tags put on every resource.')
param tags object = {
  service: 'impact-bot'
}

var tenantId = subscription().tenantId
var suffix = uniqueString(resourceGroup().id, namePrefix)
var vaultName = take('kv-${replace(namePrefix, '-', '')}${suffix}', 24)
var usesMsi = botAppType == 'UserAssignedMSI'
var databaseName = 'impact'
// Key Vault Secrets User (a built-in role)
var keyVaultSecretsUserRole = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsUser = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRole)
// AcrPull (a built-in role)
var acrPullRole = '7f951dda-4ed3-4680-a7ca-43fe172d538d'
var acrPull = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPullRole)
var usesRegistry = !empty(registryName)
var registryServer = usesRegistry ? '${registryName}.azurecr.io' : ''

// ---- watching ------------------------------------------------------------------------------

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${namePrefix}-logs'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: logRetentionDays
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${namePrefix}-insights'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: false
  }
}

// ---- private network: the app's environment, the database and Key Vault -------------------
// PostgreSQL and Key Vault have no public endpoint: only the Container Apps environment, in
// this virtual network, reaches them.

resource network 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: '${namePrefix}-vnet'
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressSpace
      ]
    }
    subnets: [
      {
        name: 'apps'
        properties: {
          addressPrefix: appsSubnet
        }
      }
      {
        name: 'database'
        properties: {
          addressPrefix: databaseSubnet
          delegations: [
            {
              name: 'postgres'
              properties: {
                serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers'
              }
            }
          ]
        }
      }
      {
        name: 'endpoints'
        properties: {
          addressPrefix: endpointsSubnet
        }
      }
    ]
  }
}

resource postgresZone 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: '${namePrefix}.private.postgres.database.azure.com'
  location: 'global'
  tags: tags
}

resource postgresZoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: postgresZone
  name: 'vnet'
  location: 'global'
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: network.id
    }
  }
}

resource vaultZone 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: 'privatelink.vaultcore.azure.net'
  location: 'global'
  tags: tags
}

resource vaultZoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: vaultZone
  name: 'vnet'
  location: 'global'
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: network.id
    }
  }
}

resource vaultEndpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = {
  name: '${namePrefix}-kv-endpoint'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: '${network.id}/subnets/endpoints'
    }
    privateLinkServiceConnections: [
      {
        name: 'vault'
        properties: {
          privateLinkServiceId: vault.id
          groupIds: [
            'vault'
          ]
        }
      }
    ]
  }
}

resource vaultEndpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = {
  parent: vaultEndpoint
  name: 'vault'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: 'vault'
        properties: {
          privateDnsZoneId: vaultZone.id
        }
      }
    ]
  }
}

// ---- identity and secrets ------------------------------------------------------------------

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-identity'
  location: location
  tags: tags
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  tags: tags
  properties: {
    tenantId: tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    // Reached only through its private endpoint; deployments write its secrets through Azure
    // Resource Manager, which needs no network path.
    publicNetworkAccess: 'Disabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Deny'
    }
  }
}

resource vaultReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: keyVaultSecretsUser
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = if (usesRegistry) {
  name: registryName
}

resource registryReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (usesRegistry) {
  name: guid(resourceGroup().id, registryName, identity.id, acrPull)
  scope: registry
  properties: {
    roleDefinitionId: acrPull
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

var builtDatabaseUrl = 'postgresql://${postgresAdminLogin}:${uriComponent(postgresAdminPassword)}@${postgres.properties.fullyQualifiedDomainName}:5432/${databaseName}?sslmode=require'

resource databaseUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: no expiry on secrets: a secret past its date would stop the bot at its next restart; rotation is by runbook (deployment/README.md)
  parent: vault
  name: 'database-url'
  properties: {
    value: empty(databaseUrlOverride) ? builtDatabaseUrl : databaseUrlOverride
    contentType: 'text/plain'
  }
}

resource botPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!usesMsi) {
  // checkov:skip=CKV_AZURE_41: no expiry on secrets: see database-url
  // checkov:skip=CKV_AZURE_114: contentType is set below; checkov reads a conditional resource's body as empty
  parent: vault
  name: 'bot-app-password'
  properties: {
    value: botAppPassword
    contentType: 'text/plain'
  }
}

resource metricsTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: no expiry on secrets: see database-url
  parent: vault
  name: 'metrics-token'
  properties: {
    value: metricsToken
    contentType: 'text/plain'
  }
}

// ---- database ------------------------------------------------------------------------------

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2022-12-01' = {
  name: '${namePrefix}-pg-${suffix}'
  location: location
  tags: tags
  sku: {
    name: postgresSku
    tier: postgresTier
  }
  properties: {
    version: '15'
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    storage: {
      storageSizeGB: 32
    }
    backup: {
      backupRetentionDays: backupRetentionDays
      geoRedundantBackup: 'Enabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
    authConfig: {
      activeDirectoryAuth: 'Disabled'
      passwordAuth: 'Enabled'
    }
    network: {
      delegatedSubnetResourceId: '${network.id}/subnets/database'
      privateDnsZoneArmResourceId: postgresZone.id
    }
  }
  dependsOn: [
    postgresZoneLink
  ]
}

resource postgresDatabase 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2022-12-01' = {
  parent: postgres
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}

resource postgresTls 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2022-12-01' = {
  parent: postgres
  name: 'require_secure_transport'
  properties: {
    value: 'on'
    source: 'user-override'
  }
}

resource postgresLogConnections 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2022-12-01' = {
  parent: postgres
  name: 'log_connections'
  properties: {
    value: 'on'
    source: 'user-override'
  }
  dependsOn: [
    postgresTls
  ]
}

// ---- the bot's host ------------------------------------------------------------------------

resource appEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: '${namePrefix}-env'
  location: location
  tags: tags
  properties: {
    vnetConfiguration: {
      infrastructureSubnetId: '${network.id}/subnets/apps'
      internal: false
    }
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
  }
}

var appName = '${namePrefix}-bot'
var publicHost = '${appName}.${appEnvironment.properties.defaultDomain}'
var registries = !usesRegistry ? [] : [
  {
    server: registryServer
    identity: identity.id
  }
]
var alwaysSecrets = [
  {
    name: 'database-url'
    keyVaultUrl: databaseUrlSecret.properties.secretUri
    identity: identity.id
  }
  {
    name: 'metrics-token'
    keyVaultUrl: metricsTokenSecret.properties.secretUri
    identity: identity.id
  }
]
var botSecrets = usesMsi ? [] : [
  {
    name: 'bot-app-password'
    keyVaultUrl: botPasswordSecret.properties.secretUri
    identity: identity.id
  }
]
var vaultSecrets = concat(alwaysSecrets, botSecrets)
var commonEnv = [
  {
    name: 'DATABASE_URL'
    secretRef: 'database-url'
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: insights.properties.ConnectionString
  }
  {
    name: 'IMPACT_LOG_FORMAT'
    value: 'json'
  }
]
var botIdentityEnv = usesMsi ? [
      {
        name: 'MicrosoftAppType'
        value: 'UserAssignedMSI'
      }
      {
        name: 'MicrosoftAppId'
        value: identity.properties.clientId
      }
      {
        name: 'MicrosoftAppTenantId'
        value: tenantId
      }
    ] : [
      {
        name: 'MicrosoftAppType'
        value: 'SingleTenant'
      }
      {
        name: 'MicrosoftAppId'
        value: botAppId
      }
      {
        name: 'MicrosoftAppTenantId'
        value: tenantId
      }
      {
        name: 'MicrosoftAppPassword'
        secretRef: 'bot-app-password'
      }
    ]

var settingsEnv = [
  {
    name: 'IMPACT_ALLOWED_TENANTS'
    value: tenantId
  }
  {
    name: 'IMPACT_ADMIN_IDS'
    value: adminIds
  }
  {
    name: 'IMPACT_IMPROVEMENT_TEAM_ID'
    value: improvementTeamId
  }
  {
    name: 'IMPACT_PUBLIC_URL'
    value: 'https://${publicHost}'
  }
  {
    name: 'IMPACT_SERVICE_PROCESSES'
    value: string(replicas)
  }
  {
    name: 'IMPACT_METRICS_TOKEN'
    secretRef: 'metrics-token'
  }
]

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: appName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    managedEnvironmentId: appEnvironment.id
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: 3978
        transport: 'http'
        allowInsecure: false
      }
      registries: registries
      secrets: vaultSecrets
    }
    template: {
      // Stopping: SIGTERM, then up to 30 s to finish turns and give back leases.
      terminationGracePeriodSeconds: 30
      containers: [
        {
          name: 'bot'
          image: image
          args: [
            'serve'
          ]
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          env: concat(commonEnv, botIdentityEnv, settingsEnv)
          probes: [
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: 3978
              }
              periodSeconds: 15
              failureThreshold: 3
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: 3978
              }
              periodSeconds: 10
              failureThreshold: 3
            }
          ]
        }
      ]
      scale: {
        minReplicas: replicas
        maxReplicas: replicas
      }
    }
  }
  dependsOn: [
    vaultReader
    registryReader
  ]
}

// `impact-bot db upgrade`, started by hand (or by your pipeline) before each release rolls out:
//   az containerapp job start -g RG -n <namePrefix>-migrate
resource migrate 'Microsoft.App/jobs@2024-03-01' = {
  name: '${namePrefix}-migrate'
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    environmentId: appEnvironment.id
    configuration: {
      triggerType: 'Manual'
      replicaTimeout: 900
      replicaRetryLimit: 0
      manualTriggerConfig: {
        parallelism: 1
        replicaCompletionCount: 1
      }
      registries: registries
      secrets: [
        {
          name: 'database-url'
          keyVaultUrl: databaseUrlSecret.properties.secretUri
          identity: identity.id
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'migrate'
          image: image
          args: [
            'db'
            'upgrade'
          ]
          resources: {
            cpu: json('0.25')
            memory: '0.5Gi'
          }
          env: [
            {
              name: 'DATABASE_URL'
              secretRef: 'database-url'
            }
            {
              name: 'IMPACT_LOG_FORMAT'
              value: 'json'
            }
          ]
        }
      ]
    }
  }
  dependsOn: [
    vaultReader
    registryReader
  ]
}

// ---- the bot's registration ----------------------------------------------------------------

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: '${namePrefix}-bot-${suffix}'
  location: 'global'
  tags: tags
  kind: 'azurebot'
  sku: {
    name: 'S1'
  }
  properties: {
    displayName: 'NHS IMPACT'
    description: 'The NHS IMPACT self-assessment, one question at a time, in Teams.'
    endpoint: 'https://${publicHost}/api/messages'
    msaAppType: botAppType
    msaAppId: usesMsi ? identity.properties.clientId : botAppId
    msaAppTenantId: tenantId
    msaAppMSIResourceId: usesMsi ? identity.id : null
    developerAppInsightKey: insights.properties.InstrumentationKey
    disableLocalAuth: false
    publicNetworkAccess: 'Enabled'
    isStreamingSupported: false
  }
}

resource teams 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: {
      isEnabled: true
      acceptedTerms: true
    }
  }
}

// Azure gives every bot a Web Chat channel; its site is switched off here. No Direct Line
// channel is created.
resource webChat 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'WebChatChannel'
  location: 'global'
  properties: {
    channelName: 'WebChatChannel'
    properties: {
      sites: [
        {
          siteName: 'Default Site'
          isEnabled: false
          isWebchatPreviewEnabled: false
          isBlockUserUploadEnabled: true
        }
      ]
    }
  }
}

// ---- alerts --------------------------------------------------------------------------------

resource turnErrors 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-turn-errors'
  location: location
  tags: tags
  properties: {
    displayName: 'impact-bot: turns failing'
    description: 'More than 5 failed turns in 15 minutes (deployment/README.md, "What to watch").'
    severity: 2
    enabled: true
    scopes: [
      logs.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'ContainerAppConsoleLogs_CL | where ContainerAppName_s == "${appName}" | extend entry = parse_json(Log_s) | where entry.logger == "impact_bot.turns" and entry.outcome == "error"'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 5
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
  }
}

output botEndpoint string = 'https://${publicHost}/api/messages'
output publicHost string = publicHost
output botAppId string = usesMsi ? identity.properties.clientId : botAppId
output keyVaultName string = vault.name
output postgresHost string = postgres.properties.fullyQualifiedDomainName
output migrateJob string = migrate.name
output appInsightsName string = insights.name
